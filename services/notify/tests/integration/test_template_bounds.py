"""A template past the render bounds: refused when saved through the API; one already in the
store (saved before the bounds existed) fails its notification permanently at send time,
recorded and visible, never retried, while the other notifications go out."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from crm_contracts.notify import NotificationFailed
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Language, NotificationKind
from crm_kit.clock import utc_now
from crm_kit.testing import bearer, end_offsets
from crm_notify.repository import NOTIFICATIONS, notifications
from crm_notify.repository.templates import save_template
from crm_notify.templates import Template

from .conftest import Harness, final_notification, outcome_events, unique

NESTED_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
OUTPUT_BOMB = "{% for a in range(100000) %}{{ body * 100 }}{% endfor %}"


def ad_hoc(address: str, language: str) -> dict[str, Any]:
    source_id = f"{uuid.uuid4().hex}-bounds"
    return notifications.new_notification(
        {
            "_id": str(uuid.uuid4()),
            "kind": "ad_hoc",
            "recipient": {"kind": "address", "id": address},
            "source": {"event_id": source_id, "event_type": "AdHocSend"},
            "variables": {"subject": "Bounds", "body": "Hello"},
            "event_id": None,
            "participant_id": None,
            "language_hint": language,
            "preferred_hint": "email",
            "channel_hints": [],
            "address_channel": "email",
            "calendar": None,
        },
        utc_now(),
    )


async def test_templates_past_the_bounds_are_refused_when_saved(notify: Harness) -> None:
    for part, bomb in (("text", NESTED_LOOPS), ("html", OUTPUT_BOMB)):
        body = {"subject": "{{ subject }}", "text": "{{ body }}", part: bomb}
        saved = await notify.client.put(
            "/templates/ad_hoc/en", json=body, headers=bearer(notify.keys, "notify:admin")
        )
        assert saved.status_code == 422, saved.text
        assert saved.headers["content-type"].startswith("application/problem+json")
        [error] = saved.json()["errors"]
        assert error["field"] == f"body.{part}"
        assert "past the bounds" in error["message"]


async def test_a_stored_bomb_fails_its_notification_for_good_and_the_others_go_out(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    # As if saved before save-time checks existed: straight into the store.
    await save_template(
        h.db,
        NotificationKind.AD_HOC,
        Language.EN,
        Template(subject="{{ subject }}", text=NESTED_LOOPS),
        by="before-the-bounds",
        at=utc_now(),
    )
    bombed = ad_hoc(f"{unique('bombed')}@example.com", "en")
    fine = ad_hoc(f"{unique('fine')}@example.com", "ru")
    await h.db[NOTIFICATIONS].insert_many([bombed, fine])

    failed = await final_notification(h, bombed["source"]["event_id"])
    delivered = await final_notification(h, fine["source"]["event_id"])
    assert (failed["status"], failed["failure"], failed["attempts"]) == (
        "failed",
        "template_error",
        1,
    )
    assert "more than 50000 loop iterations and calls" in failed["last_error"]
    assert delivered["status"] == "delivered"
    assert len(h.smtp.messages_to(fine["recipient"]["id"])) == 1
    assert h.smtp.messages_to(bombed["recipient"]["id"]) == []
    [envelope] = await outcome_events(h, since, failed)
    assert "loop iterations" in envelope.open_as(NotificationFailed).reason

    await asyncio.sleep(3 * h.app.state.runtime.settings.worker_poll_s + 1)
    again = await final_notification(h, bombed["source"]["event_id"])
    assert (again["status"], again["attempts"]) == ("failed", 1)  # not retried
