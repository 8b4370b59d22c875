"""The participants' retention job: an event's list goes once the event is long over, once,
and nothing else does."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

from crm_campaigns.handlers.retention import remove_past_participants
from crm_campaigns.settings import CampaignsSettings
from crm_kit.query_plans import TEST_READ
from crm_kit.testing import StackEndpoints

from .bus import person, publish
from .conftest import Campaigns
from .test_paper_questionnaires import event_with_questionnaire
from .test_participants import add, people_known, uid
from .test_plan_schedule import schedule
from .test_questionnaire_results import answer_online, question, results

RETENTION = timedelta(days=730)  # CampaignsSettings' default


async def _event_with_people(
    stack: StackEndpoints, c: Campaigns, starts_at: datetime
) -> tuple[dict[str, Any], list[str]]:
    ids = [uid(), uid()]
    await publish(stack, *(person(uid(), i) for i in ids))
    await people_known(c, ids)
    event = await schedule(
        c, starts_at=starts_at.isoformat(), ends_at=(starts_at + timedelta(hours=4)).isoformat()
    )
    added = await add(c, event["id"], people=[{"person_id": i} for i in ids])
    assert added.status_code == 201, added.text
    return event, ids


async def _participants(c: Campaigns, event_id: str) -> int:
    found: int = await c.runtime.db["participants"].count_documents(
        {"event_id": event_id}, comment=TEST_READ
    )
    return found


async def test_the_participants_of_an_event_long_over_go_and_later_ones_stay(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    early, _ = await _event_with_people(
        stack, campaigns, datetime.fromisoformat("2031-03-02T07:00+00:00")
    )
    later, _ = await _event_with_people(
        stack, campaigns, datetime.fromisoformat("2031-03-09T07:00+00:00")
    )
    ended = datetime.fromisoformat(early["ends_at"])

    removed = await remove_past_participants(
        campaigns.runtime, now=ended + RETENTION + timedelta(days=1)
    )

    assert removed == {early["id"]: 2}
    assert await _participants(campaigns, early["id"]) == 0
    assert await _participants(campaigns, later["id"]) == 2
    kept = await campaigns.http.get(f"/events/{early['id']}", headers=campaigns.read())
    assert kept.status_code == 200


async def test_running_the_job_again_or_twice_at_once_removes_once(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    event, _ = await _event_with_people(
        stack, campaigns, datetime.fromisoformat("2031-04-06T07:00+00:00")
    )
    now = datetime.fromisoformat(event["ends_at"]) + RETENTION + timedelta(days=1)

    runs = await asyncio.gather(
        remove_past_participants(campaigns.runtime, now=now),
        remove_past_participants(campaigns.runtime, now=now),
    )
    again = await remove_past_participants(campaigns.runtime, now=now)

    assert sorted(run.get(event["id"], 0) for run in runs) == [0, 2]
    assert again == {}


async def test_a_retention_of_zero_keeps_every_list(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    event, _ = await _event_with_people(
        stack, campaigns, datetime.fromisoformat("2031-05-04T07:00+00:00")
    )
    runtime = campaigns.runtime
    settings = CampaignsSettings(
        **{**runtime.settings.model_dump(), "participant_retention_days": 0}
    )

    removed = await remove_past_participants(
        dataclasses.replace(runtime, settings=settings),
        now=datetime.fromisoformat(event["ends_at"]) + 100 * RETENTION,
    )

    assert removed == {}
    assert await _participants(campaigns, event["id"]) == 2


async def test_the_answers_of_an_event_long_over_keep_their_counts_but_not_their_texts(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, (pid,) = await event_with_questionnaire(c, people=1)
    own = await c.http.get(f"/events/{eid}/participants/{pid}/questionnaire-link", headers=c.read())
    await answer_online(c, own.json()["path"], q_format="Seminar", q_remarks="My own words")
    event = (await c.http.get(f"/events/{eid}", headers=c.read())).json()

    await remove_past_participants(
        c.runtime, now=datetime.fromisoformat(event["ends_at"]) + RETENTION + timedelta(days=1)
    )

    report = await results(c, eid)
    remarks = question(report, "remarks")
    assert (remarks["answered"], remarks["erased"], remarks["texts"]["items"]) == (1, 1, [])
    assert question(report, "format")["options"][0] == {
        "option": "Seminar", "count": 1, "current": True
    }  # fmt: skip
    stored = await c.runtime.db["questionnaire_responses"].find_one(
        {"event_id": eid}, comment=TEST_READ
    )
    assert stored is not None
    assert "person_id" not in stored  # whose answers these were goes with the list
