"""Retention in notify: the delivery log expires by TTL indexes that follow the setting, and a
prospect deleted by contacts takes its people and their settled notifications with it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crm_contracts.contacts import ClientExpired
from crm_contracts.values import Channel
from crm_kit.retention import ensure_ttl_indexes
from crm_kit.testing import eventually
from crm_notify.settings import NotifySettings

from .conftest import Harness, final_notification, invitation_for, person_added, unique


async def _ttls(h: Harness) -> dict[str, tuple[int, dict[str, int]]]:
    indexes = [i async for i in await h.db["notifications"].list_indexes()]
    return {
        i["name"]: (i["expireAfterSeconds"], dict(i["key"]))
        for i in indexes
        if "expireAfterSeconds" in i
    }


async def test_settled_notifications_expire_after_the_configured_days(notify: Harness) -> None:
    year = 365 * 86_400
    assert await _ttls(notify) == {"settled_at_ttl": (year, {"settled_at": 1})}


async def test_a_changed_retention_moves_the_expiry_and_zero_keeps_the_log(
    notify: Harness,
) -> None:
    await ensure_ttl_indexes(notify.db, NotifySettings(notification_retention_days=90).retention())
    assert {name: ttl for name, (ttl, _) in (await _ttls(notify)).items()} == {
        "settled_at_ttl": 90 * 86_400
    }

    await ensure_ttl_indexes(notify.db, NotifySettings(notification_retention_days=0).retention())
    assert await _ttls(notify) == {}

    await ensure_ttl_indexes(notify.db, NotifySettings().retention())


async def test_an_expired_prospect_takes_its_people_and_their_delivery_log(
    notify: Harness,
) -> None:
    person = person_added(email=f"{unique('gone')}@example.com", consents={Channel.EMAIL: True})
    kept = person_added(email=f"{unique('kept')}@example.com", consents={Channel.EMAIL: True})
    for who in (person, kept):
        await notify.publish(who)
    sent = await final_notification(notify, await notify.publish(invitation_for(person)))
    other = await final_notification(notify, await notify.publish(invitation_for(kept)))

    now = datetime.now(UTC)
    await notify.publish(
        ClientExpired(
            client_id=person.client_id,
            person_ids=(person.person_id,),
            last_activity_at=now,
            retention_days=730,
            expired_at=now,
        )
    )

    async def forgotten() -> bool:
        recipient = await notify.db["recipients"].find_one({"_id": f"person:{person.person_id}"})
        return recipient is None

    await eventually(forgotten, what="the expired prospect's person forgotten")
    notifications = notify.db["notifications"]
    found: dict[str, Any] = {
        d["_id"]: d async for d in notifications.find({"_id": {"$in": [sent["id"], other["id"]]}})
    }
    assert list(found) == [other["id"]]
    assert await notify.db["recipients"].find_one({"_id": f"person:{kept.person_id}"})
