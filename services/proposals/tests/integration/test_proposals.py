"""Proposals over HTTP on the real stack: registration, parallel proposals, revisions, status,
bad input refused with nothing stored, and the events on the topic."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_contracts.envelope import Envelope
from crm_contracts.proposals import (
    ProposalDraftEdited,
    ProposalRegistered,
    ProposalRevised,
    ProposalStatusChanged,
)
from crm_contracts.topics import PROPOSALS
from crm_kit.testing import end_offsets, read_topic


async def _events_of(crm: Any, since: dict[int, int], key: str, count: int) -> list[Envelope]:
    records = await read_topic(
        crm.stack.kafka_bootstrap,
        PROPOSALS,
        since=since,
        stop_when=lambda rs: sum(r.key == key.encode() for r in rs) >= count,
    )
    return [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]


async def test_two_proposals_in_parallel_for_one_client_are_both_registered(crm: Any) -> None:
    client_id, curator = await crm.client_with_curator()
    item = await crm.catalogue_item(price=2_500)
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)

    async def register(quantity: int) -> Any:
        return await crm.http.post(
            "/proposals",
            json={
                "client_id": client_id,
                "title": f"Offer for {quantity}",
                "lines": [{"item_code": item, "quantity": quantity}],
            },
            headers=crm.writer(),
        )

    first, second = await asyncio.gather(register(2), register(3))
    assert (first.status_code, second.status_code) == (201, 201)
    ids = {first.json()["id"], second.json()["id"]}
    assert len(ids) == 2
    for created, quantity in ((first, 2), (second, 3)):
        body = created.json()
        assert (body["status"], body["curator_id"], body["revision"]["revision"]) == (
            "draft",
            curator,
            1,
        )
        assert body["revision"]["lines"][0]["unit_price"] == {
            "amount_minor": 2_500,
            "currency": "EUR",
        }
        assert body["revision"]["totals"]["total"]["amount_minor"] == 2_500 * quantity

    listed = await crm.http.get(
        "/proposals", params={"client_id": client_id}, headers=crm.auth("proposals:read")
    )
    assert {p["id"] for p in listed.json()["items"]} == ids

    for proposal_id in ids:
        (envelope,) = await _events_of(crm, since, proposal_id, 1)
        event = envelope.open_as(ProposalRegistered)
        assert (event.client_id, event.curator_id, event.revision, event.status) == (
            client_id,
            curator,
            1,
            "draft",
        )


async def test_a_proposal_to_a_client_contacts_does_not_know_is_refused(crm: Any) -> None:
    item = await crm.catalogue_item()
    before = await crm.count("proposals")
    refused = await crm.http.post(
        "/proposals",
        json={"client_id": "nobody", "title": "x", "lines": [{"item_code": item, "quantity": 1}]},
        headers=crm.writer(),
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "body.client_id"
    assert await crm.count("proposals") == before


async def _refused(crm: Any, client_id: str, line: dict[str, Any]) -> dict[str, Any]:
    before = await crm.count("proposals")
    response = await crm.http.post(
        "/proposals",
        json={"client_id": client_id, "title": "Bad", "lines": [line]},
        headers=crm.writer(),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await crm.count("proposals") == before
    body: dict[str, Any] = response.json()
    return body


async def test_an_unknown_catalogue_item_is_refused_naming_the_line(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    body = await _refused(crm, client_id, {"item_code": "NO-SUCH-ITEM", "quantity": 1})
    assert body["errors"][0]["field"] == "body.lines[0].item_code"
    assert "NO-SUCH-ITEM" in body["detail"]


async def test_a_negative_quantity_is_refused_naming_it(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    body = await _refused(crm, client_id, {"item_code": item, "quantity": -1})
    assert body["errors"][0]["field"] == "body.lines[0].quantity"


async def test_a_discount_over_100_percent_is_refused_naming_it(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    body = await _refused(
        crm,
        client_id,
        {"item_code": item, "quantity": 1, "discount": {"kind": "percent", "basis_points": 12_000}},
    )
    assert body["errors"][0]["field"] == "body.lines[0].discount.basis_points"


async def test_every_bad_line_and_participant_is_listed_each_at_its_path(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    before = await crm.count("proposals")
    response = await crm.http.post(
        "/proposals",
        json={
            "client_id": client_id,
            "title": "Bad in many places",
            "lines": [
                {"item_code": "NO-SUCH-ITEM", "quantity": 1},
                {"item_code": item, "quantity": 1},
                {"item_code": "NOR-THIS-ONE", "quantity": 2},
            ],
            "participants": [
                {"side": "client", "role": "decision_maker", "person_id": "nobody"},
                {"side": "company", "role": "engineer", "employee_id": "no-such-employee"},
            ],
        },
        headers=crm.writer(),
    )

    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["type"] == "https://crm.example/problems/invalid-input"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("body.lines[0].item_code", "unknown-reference"),
        ("body.lines[2].item_code", "unknown-reference"),
        ("body.participants[0].person_id", "unknown-reference"),
        ("body.participants[1].employee_id", "unknown-reference"),
    ]
    assert await crm.count("proposals") == before


async def test_naming_another_curator_needs_the_admin_scope(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    other = await crm.employee("Other")
    item = await crm.catalogue_item()
    body = {
        "client_id": client_id,
        "curator_id": other,
        "title": "x",
        "lines": [{"item_code": item, "quantity": 1}],
    }
    refused = await crm.http.post("/proposals", json=body, headers=crm.writer())
    assert refused.status_code == 403
    allowed = await crm.http.post("/proposals", json=body, headers=crm.auth())
    assert allowed.status_code == 201
    assert allowed.json()["curator_id"] == other


async def test_revising_keeps_earlier_revisions_and_a_won_proposal_is_not_revised(
    crm: Any,
) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item(price=1_000)
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    created = await crm.proposal(client_id, [{"item_code": item, "quantity": 10}])
    pid = created["id"]

    presented = await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    assert presented.status_code == 200, presented.text
    assert presented.headers["ETag"] == '"2"'
    revised = await crm.post(
        f"/proposals/{pid}/revisions",
        2,
        {
            "lines": [
                {
                    "item_code": item,
                    "quantity": 10,
                    "discount": {"kind": "percent", "basis_points": 500},
                }
            ],
            "reason": "volume discount",
        },
    )
    assert revised.status_code == 201, revised.text
    assert revised.json()["revision"]["revision"] == 2
    assert revised.json()["revision"]["totals"]["total"]["amount_minor"] == 9_500

    revisions = (
        await crm.http.get(f"/proposals/{pid}/revisions", headers=crm.auth("proposals:read"))
    ).json()
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[0] == created["revision"]

    won = await crm.post(f"/proposals/{pid}/win", 3)
    assert won.status_code == 200, won.text
    assert won.json()["status"] == "won"

    refused = await crm.post(
        f"/proposals/{pid}/revisions", 4, {"lines": [{"item_code": item, "quantity": 1}]}
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "path.proposal_id"
    after = await crm.http.get(f"/proposals/{pid}", headers=crm.auth("proposals:read"))
    assert (after.json()["version"], after.json()["revision"]["revision"]) == (4, 2)

    envelopes = await _events_of(crm, since, pid, 4)
    assert [e.event_type for e in envelopes] == [
        "ProposalRegistered",
        "ProposalStatusChanged",
        "ProposalRevised",
        "ProposalWon",
    ]
    changed = envelopes[1].open_as(ProposalStatusChanged)
    assert (changed.from_status, changed.to_status) == ("draft", "presented")
    revision = envelopes[2].open_as(ProposalRevised)
    assert (revision.revision, revision.reason, revision.totals.discount.amount_minor) == (
        2,
        "volume discount",
        500,
    )


async def test_an_illegal_status_move_is_refused_and_nothing_changes(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    refused = await crm.post(f"/proposals/{pid}/win", 1)
    assert refused.status_code == 409
    assert "draft" in refused.json()["detail"]
    stale = await crm.post(f"/proposals/{pid}/status", 5, {"status": "presented"})
    assert stale.status_code == 412
    without = await crm.http.post(
        f"/proposals/{pid}/status", json={"status": "presented"}, headers=crm.auth()
    )
    assert without.status_code == 428
    after = (await crm.http.get(f"/proposals/{pid}", headers=crm.auth())).json()
    assert (after["status"], after["version"]) == ("draft", 1)


async def test_losing_records_the_reason(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    lost = await crm.post(f"/proposals/{pid}/loss", 2, {"reason": "price", "competitor": "Rival"})
    assert lost.status_code == 200, lost.text
    assert (lost.json()["status"], lost.json()["outcome_reason"], lost.json()["competitor"]) == (
        "lost",
        "price",
        "Rival",
    )


async def test_a_draft_is_edited_in_place_and_a_presented_one_is_not(crm: Any) -> None:
    client_id, curator = await crm.client_with_curator()
    engineer = await crm.employee("Engineer")
    hours = await crm.catalogue_item(price=1_000)
    parts = await crm.catalogue_item(price=500)
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    created = await crm.proposal(client_id, [{"item_code": hours, "quantity": 2}])
    pid = created["id"]

    edited = await crm.patch(
        f"/proposals/{pid}",
        1,
        {
            "title": "Offer, two sites",
            "preferences": "delivery in spring",
            "valid_until": "2099-01-31",
            "lines": [
                {
                    "item_code": hours,
                    "quantity": 3,
                    "discount": {"kind": "percent", "basis_points": 1_000},
                },
                {"item_code": parts, "quantity": 4},
            ],
            "participants": [{"side": "company", "role": "engineer", "employee_id": engineer}],
        },
    )
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] == '"2"'
    body = edited.json()
    revision = body["revision"]
    assert (body["status"], revision["revision"], revision["title"]) == (
        "draft",
        1,
        "Offer, two sites",
    )
    assert (revision["preferences"], revision["valid_until"]) == (
        "delivery in spring",
        "2099-01-31",
    )
    assert [(li["item_code"], li["quantity"]) for li in revision["lines"]] == [
        (hours, 3),
        (parts, 4),
    ]
    # 3 × 1,000 less 10 % plus 4 × 500: the totals follow the new lines.
    assert {k: v["amount_minor"] for k, v in revision["totals"].items()} == {
        "subtotal": 5_000,
        "discount": 300,
        "total": 4_700,
    }
    assert revision["participants"][0]["employee_id"] == engineer
    assert revision["created_at"] == created["revision"]["created_at"]
    assert revision["edited_at"] is not None

    # Only the fields given change; null clears the preferences.
    cleared = await crm.patch(f"/proposals/{pid}", 2, {"preferences": None})
    assert cleared.status_code == 200, cleared.text
    after = cleared.json()["revision"]
    assert (after["preferences"], after["title"], after["totals"]) == (
        None,
        "Offer, two sites",
        revision["totals"],
    )
    revisions = (
        await crm.http.get(f"/proposals/{pid}/revisions", headers=crm.auth("proposals:read"))
    ).json()
    assert [r["revision"] for r in revisions] == [1]
    assert revisions[0] == after

    # Bad input is refused naming the field, and nothing is stored.
    for patch, field in (
        ({"lines": [{"item_code": hours, "quantity": -2}]}, "body.lines[0].quantity"),
        ({"lines": [{"item_code": "NO-SUCH-ITEM", "quantity": 1}]}, "body.lines[0].item_code"),
        ({}, "body"),
    ):
        refused = await crm.patch(f"/proposals/{pid}", 3, patch)
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"][0]["field"] == field
    assert (await crm.patch(f"/proposals/{pid}", 2, {"title": "Stale"})).status_code == 412

    presented = await crm.post(f"/proposals/{pid}/status", 3, {"status": "presented"})
    assert presented.status_code == 200, presented.text
    shown = await crm.patch(f"/proposals/{pid}", 4, {"title": "Too late"})
    assert shown.status_code == 409
    assert shown.json()["errors"][0]["field"] == "path.proposal_id"
    current = (await crm.http.get(f"/proposals/{pid}", headers=crm.auth())).json()
    assert (current["version"], current["revision"]["title"]) == (4, "Offer, two sites")

    history = (await crm.http.get(f"/proposals/{pid}/history", headers=crm.auth())).json()
    assert [(e["kind"], e["summary"]) for e in history] == [
        ("registered", "Offer, two sites"),
        (
            "edited",
            "draft edited (title, preferences, valid_until, lines, participants): "
            "preferences now 'delivery in spring'",
        ),
        ("edited", "draft edited (preferences): preferences cleared"),
        ("status_changed", "draft → presented"),
    ]

    envelopes = await _events_of(crm, since, pid, 4)
    assert [e.event_type for e in envelopes] == [
        "ProposalRegistered",
        "ProposalDraftEdited",
        "ProposalDraftEdited",
        "ProposalStatusChanged",
    ]
    first = envelopes[1].open_as(ProposalDraftEdited)
    assert (first.revision, first.client_id, first.curator_id, first.title) == (
        1,
        client_id,
        curator,
        "Offer, two sites",
    )
    assert first.changed_fields == ("title", "preferences", "valid_until", "lines", "participants")
    assert [(li.item_code, li.quantity, li.line_total.amount_minor) for li in first.lines] == [
        (hours, 3, 2_700),
        (parts, 4, 2_000),
    ]
    assert (first.totals.total.amount_minor, first.currency) == (4_700, "EUR")
    assert [p.employee_id for p in first.participants] == [engineer]
    second = envelopes[2].open_as(ProposalDraftEdited)
    assert (second.changed_fields, second.preferences) == (("preferences",), None)


async def test_the_clients_side_takes_only_the_clients_own_people(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    other_client, _ = await crm.client_with_curator(name="Other")
    own = await crm.person(client_id, "Decider")
    stranger = await crm.person(other_client, "Stranger")
    item = await crm.catalogue_item()

    def body(person_id: str) -> dict[str, Any]:
        return {
            "client_id": client_id,
            "title": "Offer",
            "lines": [{"item_code": item, "quantity": 1}],
            "participants": [
                {"side": "client", "role": "influencer", "person_id": own},
                {"side": "client", "role": "decision_maker", "person_id": person_id},
            ],
        }

    before = await crm.count("proposals")
    for person_id in (stranger, "nobody"):
        refused = await crm.http.post("/proposals", json=body(person_id), headers=crm.writer())
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == "body.participants[1].person_id"
    assert await crm.count("proposals") == before

    created = await crm.http.post("/proposals", json=body(own), headers=crm.writer())
    assert created.status_code == 201, created.text
    participants = created.json()["revision"]["participants"]
    assert [(p["role"], p["person_id"]) for p in participants] == [
        ("influencer", own),
        ("decision_maker", own),
    ]
