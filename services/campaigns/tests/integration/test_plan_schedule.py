"""Programmes, events and their lifecycle, tasks, templates and the estimate over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts.campaigns import (
    EventCancelled,
    EventRescheduled,
    EventScheduled,
    PreparationTaskCreated,
    ProgrammeDefined,
    TaskAssigned,
    TaskCancelled,
    TaskRescheduled,
)
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CAMPAIGNS
from crm_kit.testing import StackEndpoints, read_topic
from icalendar import Calendar

from .conftest import Campaigns, topic_end

START = datetime(2031, 3, 10, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


def event_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "seminar",
        "title": "Pumps for water utilities",
        "topic": "New pump range",
        "place": {"venue": "Expo hall 3", "address": "Moscow, Tverskaya 1"},
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=4)).isoformat(),
        "timezone": "Europe/Moscow",
        "capacity": 50,
        "budget": {"amount_minor": 500_000_00, "currency": "RUB"},
        "responsible_employee_ids": ["emp-1"],
    }
    body.update(over)
    return body


async def schedule(c: Campaigns, **over: Any) -> dict[str, Any]:
    response = await c.http.post("/events", json=event_body(**over), headers=c.write())
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def facts_of(stack: StackEndpoints, since: dict[int, int], key: str, count: int) -> list[Any]:
    records = await read_topic(
        stack.kafka_bootstrap,
        CAMPAIGNS,
        since=since,
        stop_when=lambda rs: sum(r.key == key.encode() for r in rs) >= count,
        until_idle=1.0,
    )
    return [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]


async def test_scheduling_an_event_publishes_it_with_its_generated_tasks(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    since = await topic_end(campaigns, stack)
    event = await schedule(campaigns)
    assert event["status"] == "scheduled"
    assert event["version"] == 1
    assert event["open_tasks"] == 7

    tasks = (
        await campaigns.http.get(f"/events/{event['id']}/tasks", headers=campaigns.read())
    ).json()
    by_item = {t["template_item_id"]: t for t in tasks["items"]}
    assert set(by_item) == {
        "venue", "press", "estimate", "equipment", "specialists", "programme", "invitations"
    }  # fmt: skip
    assert by_item["venue"]["due_on"] == "2031-01-24"  # 45 days before 10 March
    assert by_item["venue"]["assignee_id"] == "emp-1"
    assert all(t["status"] == "open" and t["overdue"] is False for t in tasks["items"])

    envelopes = await facts_of(stack, since, event["id"], 15)
    types = [e.event_type for e in envelopes]
    assert types.count("EventScheduled") == 1
    assert types.count("PreparationTaskCreated") == 7
    assert types.count("TaskAssigned") == 7
    scheduled = envelopes[0].open_as(EventScheduled)
    assert scheduled.title == "Pumps for water utilities"
    assert scheduled.starts_at == START
    for envelope in envelopes[1:]:
        fact = envelope.open()
        assert isinstance(fact, PreparationTaskCreated | TaskAssigned)
        assert envelope.producer == "campaigns"


async def test_rescheduling_moves_open_tasks_and_cancelling_cancels_them(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    event = await schedule(campaigns)
    eid = event["id"]
    tasks = (await campaigns.http.get(f"/events/{eid}/tasks", headers=campaigns.read())).json()
    venue = next(t for t in tasks["items"] if t["template_item_id"] == "venue")
    done = await campaigns.http.patch(
        f"/events/{eid}/tasks/{venue['id']}", json={"status": "done"}, headers=campaigns.write(1)
    )
    assert done.status_code == 200, done.text
    assert done.headers["ETag"] == '"2"'

    since = await topic_end(campaigns, stack)
    later = START + timedelta(days=7)
    moved = await campaigns.http.post(
        f"/events/{eid}/reschedule",
        json={"starts_at": later.isoformat(), "ends_at": (later + timedelta(hours=2)).isoformat()},
        headers=campaigns.write(2),
    )
    assert moved.status_code == 200, moved.text
    after = (await campaigns.http.get(f"/events/{eid}/tasks", headers=campaigns.read())).json()
    by_item = {t["template_item_id"]: t for t in after["items"]}
    assert by_item["venue"]["due_on"] == "2031-01-24"  # done: stays
    assert by_item["press"]["due_on"] == "2031-02-15"  # 30 days before 17 March

    cancelled = await campaigns.http.post(
        f"/events/{eid}/cancel", json={"reason": "venue flooded"}, headers=campaigns.write(3)
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    final = (await campaigns.http.get(f"/events/{eid}/tasks", headers=campaigns.read())).json()
    assert sorted(t["status"] for t in final["items"]) == ["cancelled"] * 6 + ["done"]

    envelopes = await facts_of(stack, since, eid, 1 + 6 + 1 + 6)
    types = [e.event_type for e in envelopes]
    assert (
        types
        == ["EventRescheduled"]
        + ["TaskRescheduled"] * 6
        + ["EventCancelled"]
        + ["TaskCancelled"] * 6
    )
    assert envelopes[0].open_as(EventRescheduled).previous_starts_at == START
    assert envelopes[1].open_as(TaskRescheduled).due_on - envelopes[1].open_as(
        TaskRescheduled
    ).previous_due_on == timedelta(days=7)
    assert envelopes[7].open_as(EventCancelled).reason == "venue flooded"
    assert envelopes[8].open_as(TaskCancelled).assignee_id == "emp-1"


async def test_illegal_moves_are_refused(campaigns: Campaigns) -> None:
    event = await schedule(campaigns)
    eid = event["id"]
    early = await campaigns.http.post(f"/events/{eid}/complete", headers=campaigns.write(1))
    assert early.status_code == 409
    assert early.json()["type"].endswith("/event-not-started")
    await campaigns.http.post(f"/events/{eid}/cancel", json={}, headers=campaigns.write(1))
    again = await campaigns.http.post(f"/events/{eid}/cancel", json={}, headers=campaigns.write(2))
    assert again.status_code == 409
    assert again.json()["title"] == "Event already cancelled"
    move = await campaigns.http.post(
        f"/events/{eid}/reschedule",
        json={"starts_at": START.isoformat(), "ends_at": (START + timedelta(hours=1)).isoformat()},
        headers=campaigns.write(2),
    )
    assert move.status_code == 409


async def test_updates_need_a_current_if_match(campaigns: Campaigns) -> None:
    event = await schedule(campaigns)
    missing = await campaigns.http.post(
        f"/events/{event['id']}/cancel", json={}, headers=campaigns.write()
    )
    assert missing.status_code == 428
    stale = await campaigns.http.post(
        f"/events/{event['id']}/cancel", json={}, headers=campaigns.write(7)
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"


async def test_an_event_ending_before_it_starts_is_refused_naming_the_field(
    campaigns: Campaigns,
) -> None:
    response = await campaigns.http.post(
        "/events",
        json=event_body(ends_at=(START - timedelta(hours=1)).isoformat()),
        headers=campaigns.write(),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.ends_at"
    unknown_kind = await campaigns.http.post(
        "/events", json=event_body(kind="picnic"), headers=campaigns.write()
    )
    assert unknown_kind.status_code == 422
    assert unknown_kind.json()["errors"][0]["field"] == "body.kind"
    bad_zone = await campaigns.http.post(
        "/events", json=event_body(timezone="Mars/Olympus"), headers=campaigns.write()
    )
    # Refused by the request model now (an IANA name up to 64 characters), so the path is full.
    assert bad_zone.status_code == 422
    assert bad_zone.json()["errors"][0]["field"] == "body.timezone"


async def test_the_plan_schedule_filters_by_period_kind_programme_and_responsible(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    since = await topic_end(campaigns, stack)
    created = await campaigns.http.post(
        "/programmes",
        json={
            "name": "Water 2031",
            "portrait": {"statuses": ["active"], "tags": ["utilities"]},
            "promoted_item_codes": ["PUMP-1"],
            "starts_on": "2031-01-01",
            "ends_on": "2031-12-31",
            "budget": {"amount_minor": 1_000_000_00, "currency": "RUB"},
        },
        headers=campaigns.write(),
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    a = await schedule(campaigns, programme_id=pid)
    b = await schedule(
        campaigns,
        kind="webinar",
        place={"online_url": "https://meet.example/x"},
        starts_at=(START + timedelta(days=40)).isoformat(),
        ends_at=(START + timedelta(days=40, hours=1)).isoformat(),
        responsible_employee_ids=["emp-2"],
    )

    async def ids(**params: str) -> list[str]:
        r = await campaigns.http.get("/events", params=params, headers=campaigns.read())
        assert r.status_code == 200, r.text
        return [e["id"] for e in r.json()["items"]]

    assert await ids() == [a["id"], b["id"]]
    assert await ids(kind="webinar") == [b["id"]]
    assert await ids(programme_id=pid) == [a["id"]]
    assert await ids(responsible_employee_id="emp-2") == [b["id"]]
    assert await ids(**{"from": "2031-04-01T00:00:00Z", "to": "2031-05-01T00:00:00Z"}) == [b["id"]]
    first = await campaigns.http.get("/events", params={"limit": 1}, headers=campaigns.read())
    cursor = first.json()["next_cursor"]
    second = await campaigns.http.get(
        "/events", params={"limit": 1, "cursor": cursor}, headers=campaigns.read()
    )
    assert [e["id"] for e in second.json()["items"]] == [b["id"]]

    ics = await campaigns.http.get("/events.ics", headers=campaigns.read())
    assert ics.headers["content-type"].startswith("text/calendar")
    cal = Calendar.from_ical(ics.content)
    uids = sorted(str(c["uid"]) for c in cal.walk("VEVENT"))
    assert uids == sorted(f"{x['id']}@campaigns.crm" for x in (a, b))

    envelopes = await facts_of(stack, since, pid, 1)
    defined = envelopes[0].open_as(ProgrammeDefined)
    assert defined.portrait.tags == ("utilities",)
    assert defined.version == 1


async def test_templates_are_editable_and_shape_the_next_events_tasks(
    campaigns: Campaigns,
) -> None:
    kinds = (await campaigns.http.get("/task-templates", headers=campaigns.read())).json()
    assert [t["kind"] for t in kinds["items"]] == sorted(
        ["exhibition", "seminar", "conference", "presentation", "webinar", "reception"]
    )
    put = await campaigns.http.put(
        "/task-templates/seminar",
        json={
            "items": [
                {
                    "item_id": "hall",
                    "title": "Book the hall",
                    "category": "venue",
                    "days_before": 10,
                    "department": "marketing",
                    "default_assignee_id": "emp-9",
                }
            ]
        },
        headers=campaigns.write(0),
    )
    assert put.status_code == 200, put.text
    assert put.json()["version"] == 1
    stale = await campaigns.http.put(
        "/task-templates/seminar", json={"items": []}, headers=campaigns.write(0)
    )
    assert stale.status_code == 412
    event = await schedule(campaigns)
    tasks = (
        await campaigns.http.get(f"/events/{event['id']}/tasks", headers=campaigns.read())
    ).json()
    assert [(t["title"], t["due_on"], t["assignee_id"]) for t in tasks["items"]] == [
        ("Book the hall", "2031-02-28", "emp-9")
    ]


async def test_the_estimate_totals_planned_and_actual_against_the_budget(
    campaigns: Campaigns,
) -> None:
    event = await schedule(campaigns, budget={"amount_minor": 100_000, "currency": "RUB"})
    put = await campaigns.http.put(
        f"/events/{event['id']}/estimate",
        json={
            "currency": "RUB",
            "lines": [
                {
                    "category": "venue",
                    "description": "Hall",
                    "quantity": 1,
                    "planned_unit_minor": 60_000,
                    "actual_unit_minor": 70_000,
                },
                {
                    "category": "catering",
                    "quantity": 40,
                    "planned_unit_minor": 1_000,
                    "actual_unit_minor": 900,
                },
            ],
        },
        headers=campaigns.write(1),
    )
    assert put.status_code == 200, put.text
    body = put.json()
    assert body["planned_total"] == {"amount_minor": 100_000, "currency": "RUB"}
    assert body["actual_total"] == {"amount_minor": 106_000, "currency": "RUB"}
    assert body["actual_variance"] == {"amount_minor": -6_000, "currency": "RUB"}
    assert body["over_budget"] is True


async def test_negative_costs_are_refused_naming_the_line(campaigns: Campaigns) -> None:
    event = await schedule(campaigns)
    response = await campaigns.http.put(
        f"/events/{event['id']}/estimate",
        json={
            "currency": "RUB",
            "lines": [{"category": "venue", "quantity": 1, "planned_unit_minor": -5}],
        },
        headers=campaigns.write(1),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.lines[0].planned_unit_minor"


async def test_reading_needs_the_read_scope(campaigns: Campaigns) -> None:
    anonymous = await campaigns.http.get("/events")
    assert anonymous.status_code == 401
    unknown = await campaigns.http.get(f"/events/{uuid.uuid4()}", headers=campaigns.read())
    assert unknown.status_code == 404


async def test_a_persons_open_tasks_across_events_come_overdue_first_without_finished_ones(
    campaigns: Campaigns,
) -> None:
    me = f"emp-{uuid.uuid4().hex[:8]}"
    soon = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
    later = await schedule(campaigns, responsible_employee_ids=[me])
    near = await schedule(
        campaigns,
        title="Open day",
        starts_at=soon.isoformat(),
        ends_at=(soon + timedelta(hours=2)).isoformat(),
        responsible_employee_ids=[me],
    )
    tasks_of = {}
    for event in (later, near):
        listed = await campaigns.http.get(f"/events/{event['id']}/tasks", headers=campaigns.read())
        tasks_of[event["id"]] = listed.json()["items"]
    finished = tasks_of[later["id"]][0]
    done = await campaigns.http.patch(
        f"/events/{later['id']}/tasks/{finished['id']}",
        json={"status": "done"},
        headers=campaigns.write(1),
    )
    assert done.status_code == 200, done.text

    listed = await campaigns.http.get(
        "/tasks", params={"assignee_id": me}, headers=campaigns.read()
    )

    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["truncated"] is False
    mine = {
        t["id"]
        for tasks in tasks_of.values()
        for t in tasks
        if t["assignee_id"] == me and t["id"] != finished["id"]
    }
    assert mine  # the responsible employee gets the template's tasks
    assert {t["id"] for t in body["items"]} == mine
    overdue = [t["overdue"] for t in body["items"]]
    assert any(overdue)  # the open day's early tasks were due weeks ago
    assert overdue == sorted(overdue, reverse=True)  # overdue first
    for group in (True, False):
        dues = [t["due_on"] for t in body["items"] if t["overdue"] is group]
        assert dues == sorted(dues)
    first = body["items"][0]
    assert (first["event_id"], first["event_title"], first["event_version"]) == (
        near["id"],
        "Open day",
        1,
    )
    nobody = await campaigns.http.get(
        "/tasks", params={"assignee_id": f"emp-{uuid.uuid4().hex[:8]}"}, headers=campaigns.read()
    )
    assert nobody.json() == {"items": [], "truncated": False}
