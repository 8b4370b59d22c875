"""One event end to end: invitations, delivery outcomes, answers on the public page, check-in,
contact records, questionnaires and new clients, with every outside fact delivered twice;
the effectiveness figures and the market-needs report come out exact."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_contracts.campaigns import (
    AttendanceRecorded,
    InvitationAnswered,
    InvitationRequested,
    NeedsIdentified,
    QuestionnaireSubmitted,
)
from crm_contracts.common import FieldOfActivity
from crm_contracts.contacts import SYSTEM_EMPLOYEE_ID, ClientSource
from crm_contracts.values import ClientSourceKind, ClientStatus, ContactKind
from crm_kit.testing import StackEndpoints, eventually

from .bus import client, contact_recorded, delivered, failed, our_facts, person, publish
from .conftest import Campaigns, topic_end
from .test_participants import people_known
from .test_plan_schedule import event_body


@pytest.mark.timeout(600)
async def test_effectiveness_is_exact_when_every_fact_arrives_twice(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    k = str(uuid.uuid4())
    ids = {name: str(uuid.uuid4()) for name in "ABCDEF"}
    water = FieldOfActivity(code="36.00", label="Water")
    await publish(stack, client(k, field_of_activity=water), *(person(k, i) for i in ids.values()))
    await people_known(c, list(ids.values()))

    programme = await c.http.post(
        "/programmes",
        json={"name": "Water", "starts_on": "2026-01-01", "ends_on": "2032-12-31"},
        headers=c.write(),
    )
    start = datetime.now(UTC) - timedelta(hours=1)
    created = await c.http.post(
        "/events",
        json=event_body(
            programme_id=programme.json()["id"],
            starts_at=start.isoformat(),
            ends_at=(start + timedelta(hours=5)).isoformat(),
            budget={"amount_minor": 100_000, "currency": "RUB"},
        ),
        headers=c.write(),
    )
    eid = created.json()["id"]
    added = await c.http.post(
        f"/events/{eid}/participants",
        json={"people": [{"person_id": i} for i in ids.values()]},
        headers=c.write(),
    )
    pid = {p["person_id"]: p["id"] for p in added.json()["items"]}
    by = {name: pid[person_id] for name, person_id in ids.items()}

    since = await topic_end(c, stack)
    run = await c.http.post(f"/events/{eid}/invitations", json={}, headers=c.write())
    assert run.status_code == 202

    def count(envelopes: list[Any], kind: str) -> int:
        return sum(e.event_type == kind for e in envelopes)

    envelopes = await our_facts(
        stack, since, eid, until=lambda es: count(es, "InvitationRequested") >= 6
    )
    invitations = {
        i.participant_id: i
        for i in (
            e.open_as(InvitationRequested)
            for e in envelopes
            if e.event_type == "InvitationRequested"
        )
    }
    assert set(invitations) == set(pid.values())

    # Notify's outcomes, each envelope delivered twice, and A's delivery reported twice over.
    outcomes = [delivered(eid, by[n], ids[n]) for n in "ABCD"] + [failed(eid, by["F"], ids["F"])]
    await publish(stack, *outcomes, delivered(eid, by["A"], ids["A"]), times=2)

    async def answer(name: str, reply: str) -> str:
        token = invitations[by[name]].answer_token
        page = await c.http.post(f"/i/{token}", data={"answer": reply})
        assert page.status_code == 200, page.text
        return page.text

    for name, reply in (("A", "accepted"), ("B", "accepted"), ("C", "accepted"), ("D", "declined")):
        assert "Thank you" in await answer(name, reply) or "declined" in await answer(name, reply)
    second = await answer("A", "declined")
    assert "you accepted the invitation" in second

    checked = await c.http.post(
        f"/events/{eid}/attendance", json={"participant_id": by["A"]}, headers=c.write()
    )
    assert checked.json()["status"] == "attended"
    await c.http.post(
        f"/events/{eid}/attendance", json={"participant_id": by["A"]}, headers=c.write()
    )
    by_code = await c.http.post(
        f"/events/{eid}/attendance",
        json={"code": invitations[by["B"]].check_in_code},
        headers=c.write(),
    )
    assert by_code.json()["id"] == by["B"]

    # Contacts' own record of E's questionnaire answer (employee "system") counts for nothing:
    # the answer itself is counted below, from QuestionnaireSubmitted.
    echo = contact_recorded(eid, k, person_id=ids["E"], codes=("PUMP-1",)).model_copy(
        update={"employee_id": SYSTEM_EMPLOYEE_ID, "kind": ContactKind.OTHER}
    )
    await publish(
        stack,
        contact_recorded(eid, k, person_id=ids["E"], codes=("PUMP-1",)),
        contact_recorded(eid, k, codes=("VALVE-2",)),
        echo,
        times=2,
    )
    newcomer = client(
        str(uuid.uuid4()),
        status=ClientStatus.POTENTIAL,
        source=ClientSource(kind=ClientSourceKind.QUESTIONNAIRE, event_id=eid),
    )
    await publish(stack, newcomer, times=2)

    q = await c.http.put(
        f"/events/{eid}/questionnaire",
        json={
            "title": "Your interests",
            "questions": [
                {
                    "question_id": "interest",
                    "text": "What interests you?",
                    "kind": "product_interest",
                    "options": ["PUMP-1", "VALVE-2"],
                },
                {"question_id": "rating", "text": "How was it?", "kind": "scale"},
                {"question_id": "who", "text": "Your details", "kind": "contact_details"},
            ],
        },
        headers=c.write(0),
    )
    assert q.status_code == 200, q.text
    anonymous = q.json()["anonymous_link"]
    page = await c.http.get(anonymous)
    assert page.status_code == 200
    assert 'name="q_interest"' in page.text
    sent = await c.http.post(
        anonymous,
        data={
            "q_interest": "VALVE-2",
            "q_rating": "4",
            "name": "Ivan",
            "email": "ivan@x.example",
            "consent_email": "1",
        },
    )
    assert "Thank you" in sent.text
    link = await c.http.get(
        f"/events/{eid}/participants/{by['E']}/questionnaire-link", headers=c.read()
    )
    own = link.json()["path"]
    assert "Thank you" in (await c.http.post(own, data={"q_interest": "PUMP-1"})).text
    again = await c.http.post(own, data={"q_interest": "VALVE-2"})
    assert "already with us" in again.text

    estimate = await c.http.get(f"/events/{eid}/estimate", headers=c.read())
    put = await c.http.put(
        f"/events/{eid}/estimate",
        json={
            "currency": "RUB",
            "lines": [
                {
                    "category": "venue",
                    "quantity": 1,
                    "planned_unit_minor": 80_000,
                    "actual_unit_minor": 90_000,
                }
            ],
        },
        headers=c.write(estimate.json()["version"]),
    )
    done = await c.http.post(f"/events/{eid}/complete", headers=c.write(put.json()["version"]))
    assert done.status_code == 200, done.text

    expected = {
        "event_id": eid,
        "status": "completed",
        "planned": 6,
        "invited": 6,
        "delivered": 4,
        "failed": 1,
        "accepted": 3,
        "declined": 1,
        "attended": 3,
        "no_show": 1,
        "participation_ratio": 0.5,
        "questionnaire_responses": 2,
        "questionnaire_response_rate": 0.6667,
        "new_potential_clients": 1,
        "contact_records": 2,
        "actual_cost": {"amount_minor": 90_000, "currency": "RUB"},
        "cost_per_attendee": {"amount_minor": 30_000, "currency": "RUB"},
        "cost_per_new_potential_client": {"amount_minor": 90_000, "currency": "RUB"},
        "budget": {"amount_minor": 100_000, "currency": "RUB"},
        "budget_variance": {"amount_minor": 10_000, "currency": "RUB"},
    }

    async def figures() -> Any:
        r = await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())
        return r.json() if r.json() == expected else None

    with contextlib.suppress(AssertionError):
        await eventually(figures, within=120, what="the effectiveness figures")
    await asyncio.sleep(2)  # any late duplicate would show now
    final = await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())
    assert final.json() == expected

    envelopes = await our_facts(
        stack, since, eid, until=lambda es: count(es, "NeedsIdentified") >= 4
    )
    answered = [
        e.open_as(InvitationAnswered) for e in envelopes if e.event_type == "InvitationAnswered"
    ]
    assert sorted(a.answer.value for a in answered) == ["accepted"] * 3 + ["declined"]
    attendance = [
        e.open_as(AttendanceRecorded) for e in envelopes if e.event_type == "AttendanceRecorded"
    ]
    assert sorted((a.participant_id, a.attended, a.method.value) for a in attendance) == sorted(
        [
            (by["A"], True, "check_in"),
            (by["B"], True, "invitation_code"),
            (by["E"], True, "contact_record"),
            (by["C"], False, "event_completed"),  # accepted, never seen: the no-show
        ]
    )
    submitted = [
        e.open_as(QuestionnaireSubmitted)
        for e in envelopes
        if e.event_type == "QuestionnaireSubmitted"
    ]
    assert sorted(s.product_interest_codes for s in submitted) == [("PUMP-1",), ("VALVE-2",)]
    needs = [e.open_as(NeedsIdentified) for e in envelopes if e.event_type == "NeedsIdentified"]
    assert sorted(n.item_codes for n in needs) == [
        ("PUMP-1",),
        ("PUMP-1",),
        ("VALVE-2",),
        ("VALVE-2",),
    ]

    report = await c.http.get(
        "/reports/market-needs", params={"programme_id": programme.json()["id"]}, headers=c.read()
    )
    assert report.json() == {
        "total_mentions": 4,
        "items": [
            {
                "item_code": "PUMP-1",
                "name": "PUMP-1",
                "mentions": 2,
                "distinct_clients": 1,
                "share": 0.5,
                "by_field_of_activity": [{"field_of_activity": "36.00", "mentions": 2}],
            },
            {
                "item_code": "VALVE-2",
                "name": "VALVE-2",
                "mentions": 2,
                "distinct_clients": 1,
                "share": 0.5,
                "by_field_of_activity": [
                    {"field_of_activity": "36.00", "mentions": 1},
                    {"field_of_activity": "unknown", "mentions": 1},
                ],
            },
        ],
    }
    as_csv = await c.http.get(
        "/reports/market-needs",
        params={"programme_id": programme.json()["id"], "format": "csv"},
        headers=c.read(),
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["item_code"], r["field_of_activity"], r["field_mentions"]) for r in rows] == [
        ("PUMP-1", "36.00", "2"),
        ("VALVE-2", "36.00", "1"),
        ("VALVE-2", "unknown", "1"),
    ]
    html = await c.http.get(
        "/reports/market-needs",
        params={"programme_id": programme.json()["id"], "format": "html"},
        headers=c.read(),
    )
    assert html.headers["content-type"].startswith("text/html")
    assert len(re.findall(r'class="bar"', html.text)) == 2


async def test_forged_and_expired_links_get_a_clear_page(campaigns: Campaigns) -> None:
    from crm_campaigns.links import LinkPurpose, LinkSigner

    forged = await campaigns.http.get("/i/not-a-token")
    assert forged.status_code == 404
    assert forged.headers["content-type"].startswith("text/html")
    assert "This link is not valid" in forged.text
    secret = campaigns.runtime.settings.link_secret
    expired = LinkSigner(secret).sign(
        LinkPurpose.ANSWER,
        event_id="e",
        participant_id="p",
        now=datetime.now(UTC) - timedelta(days=10),
        ttl=timedelta(days=1),
    )
    page = await campaigns.http.post(f"/i/{expired}", data={"answer": "accepted"})
    assert page.status_code == 410
    assert "This link has expired" in page.text
    questionnaire = await campaigns.http.get("/q/forged.token")
    assert questionnaire.status_code == 404
    assert "<html" in questionnaire.text
