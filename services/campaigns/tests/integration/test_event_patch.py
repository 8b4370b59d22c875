"""PATCH /events/{id}: what an event is (title, topic, place, capacity, budget, responsible
employees) under If-Match; dates only through a reschedule."""

from __future__ import annotations

from crm_contracts.campaigns import EventScheduled, ParticipantPromoted
from crm_kit.testing import StackEndpoints

from .conftest import Campaigns, topic_end
from .test_plan_schedule import START, facts_of, schedule
from .test_waitlist_and_no_show import add_one, people, status_of


async def test_an_event_is_amended_under_if_match_and_a_larger_capacity_seats_the_waiting(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    event = await schedule(c, capacity=2)
    eid = event["id"]
    a, b, w = await people(c, 3)
    for who in (a, b):
        await add_one(c, eid, who)
    waiting = await add_one(c, eid, w)
    assert waiting["status"] == "waitlisted"

    change = {
        "title": "Pumps, second edition",
        "topic": None,
        "place": {"venue": "Expo hall 5", "address": "Moscow, Tverskaya 3"},
        "capacity": 3,
        "budget": {"amount_minor": 700_000_00, "currency": "RUB"},
        "responsible_employee_ids": ["emp-5"],
    }
    unconditional = await c.http.patch(f"/events/{eid}", json=change, headers=c.write())
    assert unconditional.status_code == 428
    stale = await c.http.patch(f"/events/{eid}", json=change, headers=c.write(7))
    assert stale.status_code == 412
    moved = await c.http.patch(
        f"/events/{eid}", json={"starts_at": "2031-04-01T07:00:00Z"}, headers=c.write(1)
    )
    assert moved.status_code == 422
    assert moved.json()["errors"][0]["field"] == "body.starts_at"
    too_small = await c.http.patch(f"/events/{eid}", json={"capacity": 1}, headers=c.write(1))
    assert too_small.status_code == 409
    negative = await c.http.patch(
        f"/events/{eid}",
        json={"budget": {"amount_minor": -5, "currency": "RUB"}},
        headers=c.write(1),
    )
    assert negative.status_code == 422
    unchanged = await c.http.get(f"/events/{eid}", headers=c.read())
    assert unchanged.json()["version"] == 1
    assert unchanged.json()["title"] == event["title"]

    since = await topic_end(c, stack)
    patched = await c.http.patch(f"/events/{eid}", json=change, headers=c.write(1))
    assert patched.status_code == 200, patched.text
    assert patched.headers["ETag"] == '"2"'
    got = patched.json()
    assert got["title"] == "Pumps, second edition"
    assert got["topic"] is None
    assert got["place"]["venue"] == "Expo hall 5"
    assert (got["capacity"], got["budget"]["amount_minor"]) == (3, 700_000_00)
    assert got["responsible_employee_ids"] == ["emp-5"]
    assert got["starts_at"] == event["starts_at"]
    assert got["open_tasks"] == event["open_tasks"]
    assert (await status_of(c, eid, waiting["id"]))["status"] == "planned"

    # The event's new details, and the waiting participant seated by the larger capacity.
    envelopes = await facts_of(stack, since, eid, 2)
    assert sorted(e.event_type for e in envelopes) == ["EventScheduled", "ParticipantPromoted"]
    (scheduled,) = [e for e in envelopes if e.event_type == "EventScheduled"]
    (promoted,) = [e for e in envelopes if e.event_type == "ParticipantPromoted"]
    assert promoted.open_as(ParticipantPromoted).participant_id == waiting["id"]
    fact = scheduled.open_as(EventScheduled)
    assert (fact.version, fact.title, fact.capacity) == (2, "Pumps, second edition", 3)
    assert fact.starts_at == START

    # Only what is given changes; null clears the capacity.
    cleared = await c.http.patch(f"/events/{eid}", json={"capacity": None}, headers=c.write(2))
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["capacity"], cleared.json()["title"]) == (None, change["title"])

    cancelled = await c.http.post(f"/events/{eid}/cancel", json={}, headers=c.write(3))
    assert cancelled.status_code == 200, cancelled.text
    late = await c.http.patch(f"/events/{eid}", json={"title": "x"}, headers=c.write(4))
    assert late.status_code == 409
