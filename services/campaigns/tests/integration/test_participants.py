"""Participants by hand and by portrait: projections, roles, capacity, removal, no duplicates."""

from __future__ import annotations

import uuid
from typing import Any

from crm_contracts.campaigns import ParticipantsAdded
from crm_contracts.common import FieldOfActivity
from crm_contracts.contacts import EmployeeRegistered
from crm_contracts.values import ClientStatus, Department
from crm_kit.testing import StackEndpoints, eventually

from .bus import NOW, client, our_facts, person, publish
from .conftest import Campaigns, topic_end
from .test_plan_schedule import schedule


def uid() -> str:
    return str(uuid.uuid4())


async def people_known(c: Campaigns, ids: list[str]) -> None:
    db = c.runtime.db

    async def arrived() -> bool:
        return await db["people_projection"].count_documents({"_id": {"$in": ids}}) == len(ids)

    await eventually(arrived, within=60, what="the people in campaigns' projection")


async def add(c: Campaigns, event_id: str, **body: Any) -> Any:
    return await c.http.post(f"/events/{event_id}/participants", json=body, headers=c.write())


async def test_people_and_employees_are_added_by_hand_with_roles(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    partner, guest_person, partner_person, emp = uid(), uid(), uid(), uid()
    await publish(
        stack,
        client(partner, status=ClientStatus.PARTNER),
        person(partner, partner_person),
        person(uid(), guest_person),
        EmployeeRegistered(
            employee_id=emp, name="Olga", department=Department.MARKETING, role="manager",
            channels={"email": "olga@corp.example"}, active=True, version=1, registered_at=NOW,
        ),
    )  # fmt: skip
    await people_known(campaigns, [guest_person, partner_person])

    async def employee_known() -> Any:
        return await campaigns.runtime.db["employee_projection"].find_one({"_id": emp})

    await eventually(employee_known, what="the employee in the projection")
    event = await schedule(campaigns)
    since = await topic_end(campaigns, stack)
    response = await add(
        campaigns,
        event["id"],
        people=[{"person_id": guest_person}, {"person_id": partner_person}],
        employees=[{"employee_id": emp}],
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["added"] == 3
    roles = {(p["person_id"] or p["employee_id"]): p["role"] for p in body["items"]}
    assert roles == {guest_person: "guest", partner_person: "partner", emp: "staff"}
    assert all(p["status"] == "planned" for p in body["items"])

    envelopes = await our_facts(stack, since, event["id"], until=lambda es: len(es) >= 3)
    added = [e.open_as(ParticipantsAdded) for e in envelopes]
    assert sorted(p.participant_id for a in added for p in a.participants) == sorted(
        p["id"] for p in body["items"]
    )

    again = await add(campaigns, event["id"], people=[{"person_id": guest_person}])
    assert again.json()["added"] == 0
    assert again.json()["already_listed"] == 1


async def test_an_unknown_participant_is_refused_naming_the_field(
    campaigns: Campaigns,
) -> None:
    event = await schedule(campaigns)
    response = await add(campaigns, event["id"], people=[{"person_id": "nobody"}])
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.people[0].person_id"
    several = await add(
        campaigns,
        event["id"],
        people=[{"person_id": "nobody"}, {"person_id": "no-one-either"}],
        employees=[{"employee_id": "no-such-employee"}],
    )
    assert several.status_code == 422
    assert [e["field"] for e in several.json()["errors"]] == [
        "body.people[0].person_id",
        "body.people[1].person_id",
        "body.employees[0].employee_id",
    ]
    missing = await campaigns.http.get(
        f"/events/{event['id']}/participants/nobody", headers=campaigns.read()
    )
    assert missing.status_code == 404


async def test_past_capacity_people_wait_or_the_request_is_refused(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    ids = [uid() for _ in range(3)]
    await publish(stack, *(person(uid(), i) for i in ids))
    await people_known(campaigns, ids)
    event = await schedule(campaigns, capacity=2)
    refused = await add(
        campaigns, event["id"], people=[{"person_id": i} for i in ids], waitlist=False
    )
    assert refused.status_code == 409
    assert refused.json()["title"] == "Event at capacity"
    accepted = await add(campaigns, event["id"], people=[{"person_id": i} for i in ids])
    assert accepted.status_code == 201
    assert accepted.json()["waitlisted"] == 1
    statuses = sorted(p["status"] for p in accepted.json()["items"])
    assert statuses == ["planned", "planned", "waitlisted"]

    first = next(p for p in accepted.json()["items"] if p["status"] == "planned")
    waiting = next(p for p in accepted.json()["items"] if p["status"] == "waitlisted")
    removed = await campaigns.http.delete(
        f"/events/{event['id']}/participants/{first['id']}", headers=campaigns.write()
    )
    assert removed.status_code == 204
    promoted = await campaigns.http.get(
        f"/events/{event['id']}/participants/{waiting['id']}", headers=campaigns.read()
    )
    assert promoted.json()["status"] == "planned"  # the freed seat went to the waiting list
    readded = await add(campaigns, event["id"], people=[{"person_id": first["person_id"]}])
    assert readded.json()["added"] == 1
    assert readded.json()["items"][0]["status"] == "waitlisted"  # no seat left
    listed = await campaigns.http.get(
        f"/events/{event['id']}/participants", headers=campaigns.read()
    )
    assert len(listed.json()["items"]) == 3


async def test_the_portrait_selects_consenting_people_of_matching_clients_once(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    water = FieldOfActivity(code="36.00", label="Water")
    matching, other_field, not_tagged = uid(), uid(), uid()
    consenting = [uid(), uid()]
    refusing = uid()
    elsewhere = uid()
    await publish(
        stack,
        client(matching, tags=(tag,), field_of_activity=water, region="Moscow"),
        client(other_field, tags=(tag,), region="Moscow"),
        client(not_tagged, field_of_activity=water, region="Moscow"),
        person(matching, consenting[0]),
        person(matching, consenting[1]),
        person(matching, refusing, consent=False),
        person(other_field, elsewhere),
        person(not_tagged, uid()),
    )
    await people_known(campaigns, [*consenting, refusing, elsewhere])
    programme = await campaigns.http.post(
        "/programmes",
        json={
            "name": "Water",
            "portrait": {
                "tags": [tag],
                "field_of_activity_codes": ["36.00"],
                "statuses": ["active"],
                "regions": ["Moscow"],
            },
            "starts_on": "2031-01-01",
            "ends_on": "2031-12-31",
        },
        headers=campaigns.write(),
    )
    event = await schedule(campaigns, programme_id=programme.json()["id"])

    async def clients_known() -> bool:
        found = await campaigns.runtime.db["client_projection"].count_documents(
            {"_id": {"$in": [matching, other_field, not_tagged]}}
        )
        return found == 3

    await eventually(clients_known, what="the clients in the projection")
    url = f"/events/{event['id']}/participants/by-portrait"
    first = await campaigns.http.post(url, json={}, headers=campaigns.write())
    assert first.status_code == 201, first.text
    assert first.json()["added"] == 2
    second = await campaigns.http.post(url, json={}, headers=campaigns.write())
    assert second.json()["added"] == 0
    assert second.json()["already_listed"] == 2
    listed = await campaigns.http.get(
        f"/events/{event['id']}/participants", headers=campaigns.read()
    )
    assert sorted(p["person_id"] for p in listed.json()["items"]) == sorted(consenting)
