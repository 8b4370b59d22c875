"""What the back office says about a won proposal (crm.backoffice.v1): the proposal's
back-office stage, each document once however often it arrives, and a fact about a proposal
that is unknown or not won dead-lettered, with the next good fact still taken."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from crm_contracts.backoffice import ContractSigned, DealRefused, OrderPlaced, PaymentReceived
from crm_contracts.money import Money
from crm_contracts.topics import BACKOFFICE, dead_letter_topic
from crm_kit.testing import end_offsets, eventually, read_topic

AT = datetime(2026, 4, 1, 10, tzinfo=UTC)


async def _won(crm: Any) -> tuple[str, str]:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    assert (
        await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    ).status_code == 200
    assert (await crm.post(f"/proposals/{pid}/win", 2)).status_code == 200
    return pid, client_id


async def _back_office(crm: Any, pid: str) -> dict[str, Any]:
    answer = await crm.http.get(f"/proposals/{pid}/back-office", headers=crm.auth())
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_the_back_office_stage_of_a_won_proposal_follows_its_facts(crm: Any) -> None:
    pid, client_id = await _won(crm)
    assert await _back_office(crm, pid) == {
        "proposal_id": pid,
        "stage": None,
        "paid": [],
        "facts": [],
    }
    said = {"proposal_id": pid, "client_id": client_id, "system": "erp"}
    half = Money(amount_minor=50_000, currency="EUR")
    instalment = PaymentReceived(
        **said, document_number="P-2", amount=half, paid_at=AT.replace(day=9)
    )
    await crm.publish(
        ContractSigned(**said, document_number="C-1", signed_at=AT, amount=half + half),
        OrderPlaced(**said, document_number="O-1", placed_at=AT.replace(day=2)),
        PaymentReceived(**said, document_number="P-1", amount=half, paid_at=AT.replace(day=5)),
        instalment,
        instalment,  # delivered again: one payment
    )

    async def paid_twice() -> Any:
        body = await _back_office(crm, pid)
        return body if len(body["facts"]) >= 4 else None

    body = await eventually(paid_twice, what="the back office's four facts on the proposal")
    assert body["stage"] == "paid"
    assert body["paid"] == [{"amount_minor": 100_000, "currency": "EUR"}]
    assert [(f["event_type"], f["document_number"]) for f in body["facts"]] == [
        ("ContractSigned", "C-1"),
        ("OrderPlaced", "O-1"),
        ("PaymentReceived", "P-1"),
        ("PaymentReceived", "P-2"),
    ]
    assert body["facts"][0]["amount"] == {"amount_minor": 100_000, "currency": "EUR"}

    await crm.publish(
        DealRefused(
            **said, document_number="C-1", reason="Credit limit", refused_at=AT.replace(day=20)
        )
    )

    async def refused() -> Any:
        body = await _back_office(crm, pid)
        return body if body["stage"] == "refused" else None

    body = await eventually(refused, what="the refusal on the proposal")
    assert body["facts"][-1]["reason"] == "Credit limit"


async def test_an_unknown_proposal_answers_404(crm: Any) -> None:
    answer = await crm.http.get(f"/proposals/{uuid.uuid4().hex}/back-office", headers=crm.auth())
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.timeout(300)
async def test_a_fact_about_a_proposal_unknown_or_not_won_is_dead_lettered(crm: Any) -> None:
    group = crm.app.state.runtime.settings.consumer_group
    dlq = dead_letter_topic(BACKOFFICE, group)
    since = await end_offsets(crm.stack.kafka_bootstrap, dlq)
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    draft = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    unknown = uuid.uuid4().hex
    pid, won_client = await _won(crm)
    await crm.publish(
        ContractSigned(
            proposal_id=unknown,
            client_id=client_id,
            system="erp",
            document_number="C-9",
            signed_at=AT,
        ),
        ContractSigned(
            proposal_id=draft,
            client_id=client_id,
            system="erp",
            document_number="C-8",
            signed_at=AT,
        ),
        OrderPlaced(
            proposal_id=pid, client_id=won_client, system="erp", document_number="O-7", placed_at=AT
        ),
    )

    async def ordered() -> Any:
        body = await _back_office(crm, pid)
        return body if body["stage"] == "ordered" else None

    await eventually(ordered, within=120, what="the good fact taken past the bad ones")
    dead = await read_topic(
        crm.stack.kafka_bootstrap, dlq, since=since, stop_when=lambda rs: len(rs) >= 2, within=120
    )
    assert sorted(r.key for r in dead) == sorted([unknown.encode(), draft.encode()])
    assert (await _back_office(crm, draft))["facts"] == []
