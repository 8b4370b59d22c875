"""Seats freed by a removal or a decline go to the waiting list, longest waiting first; once
an event is completed, each participant who accepted and did not come is a no-show."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_campaigns.links import LinkPurpose, LinkSigner
from crm_contracts.campaigns import AttendanceRecorded, ParticipantPromoted
from crm_kit.testing import StackEndpoints

from .bus import our_facts
from .conftest import Campaigns, topic_end
from .test_invitations import seed_people
from .test_plan_schedule import event_body, schedule


async def people(c: Campaigns, count: int) -> list[str]:
    tag = f"wl{uuid.uuid4().hex[:8]}"
    await seed_people(c, count, tag)
    return [f"{tag}-p{i}" for i in range(count)]


async def add_one(c: Campaigns, event_id: str, person_id: str) -> dict[str, Any]:
    added = await c.http.post(
        f"/events/{event_id}/participants",
        json={"people": [{"person_id": person_id}]},
        headers=c.write(),
    )
    assert added.status_code == 201, added.text
    item: dict[str, Any] = added.json()["items"][0]
    return item


async def invite_all(c: Campaigns, event_id: str) -> None:
    from crm_kit.testing import eventually

    started = await c.http.post(f"/events/{event_id}/invitations", json={}, headers=c.write())
    assert started.status_code == 202, started.text
    location = started.headers["Location"]

    async def done() -> bool:
        run = (await c.http.get(location, headers=c.read())).json()
        return bool(run["state"] == "done")

    await eventually(done, within=60, what="the invitation run")


async def answer(c: Campaigns, event_id: str, participant_id: str, reply: str) -> None:
    """Answer on the public page through the link the invitation carries."""
    token = LinkSigner(c.runtime.settings.link_secret).sign(
        LinkPurpose.ANSWER,
        event_id=event_id,
        participant_id=participant_id,
        now=datetime.now(UTC),
        ttl=timedelta(days=1),
    )
    page = await c.http.post(f"/i/{token}", data={"answer": reply})
    assert page.status_code == 200, page.text


async def status_of(c: Campaigns, event_id: str, participant_id: str) -> dict[str, Any]:
    got = await c.http.get(f"/events/{event_id}/participants/{participant_id}", headers=c.read())
    assert got.status_code == 200, got.text
    found: dict[str, Any] = got.json()
    return found


async def figures(c: Campaigns, event_id: str) -> dict[str, Any]:
    got: dict[str, Any] = (
        await c.http.get(f"/events/{event_id}/effectiveness", headers=c.read())
    ).json()
    return got


async def test_a_decline_or_a_removal_promotes_the_longest_waiting(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    a, b, w1, w2, late = await people(c, 5)
    since = await topic_end(c, stack)
    eid = (await schedule(c, capacity=2))["id"]
    pa, pb = await add_one(c, eid, a), await add_one(c, eid, b)
    q1, q2 = await add_one(c, eid, w1), await add_one(c, eid, w2)
    assert [p["status"] for p in (pa, pb, q1, q2)] == ["planned", "planned"] + ["waitlisted"] * 2
    await invite_all(c, eid)
    assert (await status_of(c, eid, q1["id"]))["status"] == "waitlisted"  # not invited

    await answer(c, eid, pa["id"], "declined")
    assert (await status_of(c, eid, q1["id"]))["status"] == "planned"
    assert (await status_of(c, eid, q2["id"]))["status"] == "waitlisted"

    await answer(c, eid, pa["id"], "accepted")  # a second answer changes nothing
    assert (await status_of(c, eid, pa["id"]))["status"] == "declined"
    assert (await status_of(c, eid, q2["id"]))["status"] == "waitlisted"

    removed = await c.http.delete(f"/events/{eid}/participants/{pb['id']}", headers=c.write())
    assert removed.status_code == 204
    assert (await status_of(c, eid, q2["id"]))["status"] == "planned"

    # Both seats are taken by the promoted two: a newcomer waits.
    assert (await add_one(c, eid, late))["status"] == "waitlisted"
    counted = await figures(c, eid)
    assert (counted["planned"], counted["invited"], counted["declined"]) == (4, 2, 1)

    # The promoted are invited by the next run.
    await invite_all(c, eid)
    assert (await status_of(c, eid, q1["id"]))["status"] == "invited"
    assert (await status_of(c, eid, q2["id"]))["status"] == "invited"
    assert (await figures(c, eid))["invited"] == 4

    # Each promotion is published once, with the participant's state.
    def promoted(envelopes: list[Any]) -> list[ParticipantPromoted]:
        return [
            e.open_as(ParticipantPromoted)
            for e in envelopes
            if e.event_type == "ParticipantPromoted"
        ]

    envelopes = await our_facts(stack, since, eid, until=lambda es: len(promoted(es)) >= 2)
    facts = promoted(envelopes)
    assert sorted(f.participant_id for f in facts) == sorted([q1["id"], q2["id"]])
    assert {f.recipient.id for f in facts} == {w1, w2}


async def test_completing_an_event_marks_each_accepted_absentee_a_no_show(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    a, b, d, silent = await people(c, 4)
    since = await topic_end(c, stack)
    start = datetime.now(UTC) - timedelta(hours=1)
    created = await c.http.post(
        "/events",
        json=event_body(
            starts_at=start.isoformat(), ends_at=(start + timedelta(hours=3)).isoformat()
        ),
        headers=c.write(),
    )
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    ids = {name: (await add_one(c, eid, who))["id"] for name, who in
           (("came", a), ("absent", b), ("declined", d), ("silent", silent))}  # fmt: skip
    await invite_all(c, eid)
    await answer(c, eid, ids["came"], "accepted")
    await answer(c, eid, ids["absent"], "accepted")
    await answer(c, eid, ids["declined"], "declined")
    checked = await c.http.post(
        f"/events/{eid}/attendance", json={"participant_id": ids["came"]}, headers=c.write()
    )
    assert checked.status_code == 200, checked.text
    assert (await figures(c, eid))["no_show"] is None  # not known before the end

    event = await c.http.get(f"/events/{eid}", headers=c.read())
    done = await c.http.post(f"/events/{eid}/complete", headers=c.write(event.json()["version"]))
    assert done.status_code == 200, done.text
    statuses = {name: (await status_of(c, eid, pid)) for name, pid in ids.items()}
    assert {name: p["status"] for name, p in statuses.items()} == {
        "came": "attended",
        "absent": "no_show",
        "declined": "declined",
        "silent": "invited",
    }
    assert statuses["absent"]["no_show_at"] is not None
    counted = await figures(c, eid)
    assert (counted["accepted"], counted["attended"], counted["no_show"]) == (2, 1, 1)

    # The no-show is published as an attendance fact, not attended, once.
    def attendance(envelopes: list[Any]) -> list[AttendanceRecorded]:
        return [
            e.open_as(AttendanceRecorded) for e in envelopes if e.event_type == "AttendanceRecorded"
        ]

    envelopes = await our_facts(stack, since, eid, until=lambda es: len(attendance(es)) >= 2)
    recorded = {(f.participant_id, f.attended, f.method.value) for f in attendance(envelopes)}
    assert len(attendance(envelopes)) == 2
    assert recorded == {
        (ids["came"], True, "check_in"),
        (ids["absent"], False, "event_completed"),
    }

    # Seen after all (a late check-in): no longer a no-show, counted once.
    for _ in range(2):
        late = await c.http.post(
            f"/events/{eid}/attendance", json={"participant_id": ids["absent"]}, headers=c.write()
        )
        assert late.json()["status"] == "attended"
    counted = await figures(c, eid)
    assert (counted["attended"], counted["no_show"]) == (2, 0)


async def test_no_shows_left_unmarked_by_a_stopped_process_are_marked_at_start(
    campaigns: Campaigns,
) -> None:
    from crm_campaigns.handlers.participants import mark_pending_no_shows

    c = campaigns
    (who,) = await people(c, 1)
    start = datetime.now(UTC) - timedelta(hours=1)
    created = await c.http.post(
        "/events",
        json=event_body(
            starts_at=start.isoformat(), ends_at=(start + timedelta(hours=2)).isoformat()
        ),
        headers=c.write(),
    )
    eid = created.json()["id"]
    pid = (await add_one(c, eid, who))["id"]
    await invite_all(c, eid)
    await answer(c, eid, pid, "accepted")
    # The process stopped right after writing EventCompleted, before marking anyone.
    db = c.runtime.db
    await db["events"].update_one({"_id": eid}, {"$set": {"status": "completed"}})
    assert (await status_of(c, eid, pid))["status"] == "accepted"

    await mark_pending_no_shows(c.runtime)
    await mark_pending_no_shows(c.runtime)  # a second start finds nothing left to do
    assert (await status_of(c, eid, pid))["status"] == "no_show"
    assert (await figures(c, eid))["no_show"] == 1
    flagged = await db["events"].find_one({"_id": eid}, {"no_shows_marked": 1})
    assert flagged is not None
    assert flagged["no_shows_marked"] is True


async def test_a_first_capacity_counts_the_seats_already_taken(campaigns: Campaigns) -> None:
    c = campaigns
    a, b, late = await people(c, 3)
    event = await schedule(c, capacity=None)
    eid = event["id"]
    await add_one(c, eid, a)
    await add_one(c, eid, b)
    too_small = await c.http.patch(f"/events/{eid}", json={"capacity": 1}, headers=c.write(1))
    assert too_small.status_code == 409
    assert too_small.json()["errors"][0]["field"] == "body.capacity"
    limited = await c.http.patch(f"/events/{eid}", json={"capacity": 2}, headers=c.write(1))
    assert limited.status_code == 200, limited.text
    assert (await add_one(c, eid, late))["status"] == "waitlisted"


async def test_each_freed_seat_goes_to_the_next_one_waiting(campaigns: Campaigns) -> None:
    c = campaigns
    a, b, w, x = await people(c, 4)
    eid = (await schedule(c, capacity=1))["id"]
    pa = await add_one(c, eid, a)
    pw = await add_one(c, eid, w)
    assert pw["status"] == "waitlisted"
    await invite_all(c, eid)
    await answer(c, eid, pa["id"], "declined")
    assert (await status_of(c, eid, pw["id"]))["status"] == "planned"

    px = await add_one(c, eid, x)
    assert px["status"] == "waitlisted"
    removed = await c.http.delete(f"/events/{eid}/participants/{pw['id']}", headers=c.write())
    assert removed.status_code == 204
    assert (await status_of(c, eid, px["id"]))["status"] == "planned"
    pb = await add_one(c, eid, b)
    assert pb["status"] == "waitlisted"
    assert (await figures(c, eid))["planned"] == 2


async def test_check_in_by_code_and_by_person_find_the_participant(
    campaigns: Campaigns,
) -> None:
    from crm_campaigns.handlers.participants import attendance_inferred

    c = campaigns
    a, b, gone = await people(c, 3)
    eid = (await schedule(c, capacity=None))["id"]
    pa, pb = await add_one(c, eid, a), await add_one(c, eid, b)
    pg = await add_one(c, eid, gone)

    async def check_in(code: str) -> Any:
        return await c.http.post(
            f"/events/{eid}/attendance", json={"code": code}, headers=c.write()
        )

    by_code = await check_in(pa["check_in_code"].lower())
    assert by_code.status_code == 200, by_code.text
    assert (by_code.json()["id"], by_code.json()["status"]) == (pa["id"], "attended")
    unknown = await check_in("NOPE0000")
    assert unknown.status_code == 404
    assert unknown.json()["errors"][0]["field"] == "code"

    # A removed participant's code no longer checks in; re-added, the person is found anew.
    removed = await c.http.delete(f"/events/{eid}/participants/{pg['id']}", headers=c.write())
    assert removed.status_code == 204
    assert (await check_in(pg["check_in_code"])).status_code == 404
    again = await add_one(c, eid, gone)
    await attendance_inferred(c.runtime, eid, gone, "questionnaire")
    assert (await status_of(c, eid, again["id"]))["status"] == "attended"

    await attendance_inferred(c.runtime, eid, b, "contact_record")
    assert (await status_of(c, eid, pb["id"]))["status"] == "attended"
