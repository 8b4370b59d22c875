"""The hand-over: ProposalWon read by a plain aiokafka consumer, as a back office would; and the
proposal's history with contact records linked to it."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from crm_contracts.common import Address
from crm_contracts.contacts import ClientSource, ClientUpdated, ContactRecorded
from crm_contracts.values import (
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    ContactDirection,
    ContactKind,
)
from crm_kit.sealing import opened_payload
from crm_kit.settings import ServiceSettings
from crm_kit.testing import end_offsets, eventually, stack_kafka_options

TOPIC = "crm.proposals.v1"


async def _first_with_key(bootstrap: str, since: dict[int, int], key: str, event_type: str) -> Any:
    """What a back-office consumer does: raw aiokafka and json, no project code."""
    consumer = AIOKafkaConsumer(**stack_kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(TOPIC, p) for p in sorted(since)]
        consumer.assign(partitions)
        for tp in partitions:
            consumer.seek(tp, since[tp.partition])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    if record.key != key.encode():
                        continue
                    message = json.loads(record.value)
                    if message["event_type"] == event_type:
                        return record, message
        raise AssertionError(f"no {event_type} for {key} on {TOPIC}")
    finally:
        await consumer.stop()


async def test_a_won_proposal_hands_over_everything_the_back_office_needs(crm: Any) -> None:
    client_id, curator = await crm.client_with_curator(
        name="Polar Logistics",
        tax_id="7707083893",
        country="RU",
        addresses=(
            Address(kind="postal", text="PO box 12", city="Moscow"),
            Address(
                kind="legal",
                text="ul. Vavilova 19",
                city="Moscow",
                postal_code="117312",
                country="RU",
            ),
        ),
    )
    await crm.person(client_id, "First on record")
    buyer = await crm.person(
        client_id, "Irina Petrova", phone="+74951234567", position="Procurement director"
    )
    consulting = await crm.catalogue_item(price=120_000)
    licence = await crm.catalogue_item(price=33_333)
    lines = [
        {"item_code": consulting, "quantity": 3},
        {
            "item_code": licence,
            "quantity": 7,
            "unit_price": {"amount_minor": 30_000, "currency": "EUR"},
            "discount": {"kind": "percent", "basis_points": 750},
        },
    ]
    pid = (
        await crm.proposal(
            client_id,
            lines,
            valid_until="2099-12-31",
            participants=[{"side": "client", "role": "decision_maker", "person_id": buyer}],
        )
    )["id"]
    since = await end_offsets(crm.stack.kafka_bootstrap, TOPIC)
    assert (
        await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    ).status_code == 200
    assert (await crm.post(f"/proposals/{pid}/win", 2)).status_code == 200

    record, message = await _first_with_key(crm.stack.kafka_bootstrap, since, pid, "ProposalWon")
    assert record.key == pid.encode()
    assert message["producer"] == "proposals"
    assert message["key"] == pid
    assert message["schema_version"] == 3
    uuid.UUID(message["event_id"])
    # The contact person travels sealed; the back office opens it with the key vault.
    assert "Irina" not in json.dumps(message["payload"])
    payload = await opened_payload(message, ServiceSettings(mongo_uri=crm.stack.mongo_uri))
    assert payload["proposal_id"] == pid
    assert payload["revision"] == 1
    assert payload["version"] == 3  # registered 1, presented 2, won 3
    assert payload["client_id"] == client_id
    assert payload["client_name"] == "Polar Logistics"
    assert payload["client_kind"] == "organisation"
    assert (payload["client_tax_id"], payload["client_country"]) == ("7707083893", "RU")
    assert payload["client_legal_address"] == {
        "kind": "legal",
        "text": "ul. Vavilova 19",
        "city": "Moscow",
        "postal_code": "117312",
        "country": "RU",
    }
    # The proposal's decision maker, not merely the client's first person on record.
    assert payload["client_contact"] == {
        "person_id": buyer,
        "name": "Irina Petrova",
        "position": "Procurement director",
        "role": "decision_maker",
        "email": f"{buyer}@example.com",
        "phone": "+74951234567",
        "mobile": None,
    }
    assert payload["curator_id"] == curator
    assert payload["title"] == "Offer"
    assert payload["valid_until"] == "2099-12-31"
    assert payload["currency"] == "EUR"
    first, second = payload["lines"]
    assert first["line_no"] == 1
    assert first["item_code"] == consulting
    assert first["quantity"] == 3
    assert first["unit"] == "hour"
    assert first["unit_price"] == {"amount_minor": 120_000, "currency": "EUR"}
    assert first["discount"] is None
    assert first["discount_amount"] == {"amount_minor": 0, "currency": "EUR"}
    assert first["line_total"] == {"amount_minor": 360_000, "currency": "EUR"}
    assert second["item_code"] == licence
    assert second["quantity"] == 7
    assert second["unit_price"] == {"amount_minor": 30_000, "currency": "EUR"}
    assert second["discount"]["kind"] == "percent"
    assert second["discount"]["basis_points"] == 750
    # 7.5 % of 210,000 = 15,750 exactly.
    assert second["discount_amount"] == {"amount_minor": 15_750, "currency": "EUR"}
    assert second["line_total"] == {"amount_minor": 194_250, "currency": "EUR"}
    assert payload["totals"] == {
        "subtotal": {"amount_minor": 570_000, "currency": "EUR"},
        "discount": {"amount_minor": 15_750, "currency": "EUR"},
        "total": {"amount_minor": 554_250, "currency": "EUR"},
    }
    datetime.fromisoformat(payload["won_at"])


async def test_without_a_client_side_participant_the_contact_is_the_clients_first_person(
    crm: Any,
) -> None:
    client_id, curator = await crm.client_with_curator(name="Old Name", country="KZ")
    first = await crm.person(client_id, "Aigerim", position="Owner")
    await crm.person(client_id, "Later one")
    # Contacts corrects the client's legal details before the win; the win hands over these.
    await crm.publish(
        ClientUpdated(
            client_id=client_id,
            kind=ClientKind.ORGANISATION,
            name="Steppe Trade LLP",
            status=ClientStatus.ACTIVE,
            tax_id="123456789012",
            country="KZ",
            addresses=(Address(kind="postal", text="Abay ave 1", city="Almaty"),),
            source=ClientSource(kind=ClientSourceKind.MANUAL),
            version=2,
            changed_fields=("name", "tax_id", "addresses"),
            updated_at=datetime.now(UTC),
        )
    )
    await eventually(
        lambda: crm.db["client_projection"].find_one({"_id": client_id, "version": 2}),
        within=120,
        what="the client's update projected",
    )
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    since = await end_offsets(crm.stack.kafka_bootstrap, TOPIC)
    await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    assert (await crm.post(f"/proposals/{pid}/win", 2)).status_code == 200

    _, moved = await _first_with_key(crm.stack.kafka_bootstrap, since, pid, "ProposalStatusChanged")
    _, won = await _first_with_key(crm.stack.kafka_bootstrap, since, pid, "ProposalWon")
    assert (moved["schema_version"], moved["payload"]["version"]) == (2, 2)
    payload = await opened_payload(won, ServiceSettings(mongo_uri=crm.stack.mongo_uri))
    assert (payload["version"], payload["curator_id"]) == (3, curator)
    assert (payload["client_name"], payload["client_tax_id"]) == (
        "Steppe Trade LLP",
        "123456789012",
    )
    # No legal address on record: the first address stands in for it.
    assert payload["client_legal_address"]["text"] == "Abay ave 1"
    contact = payload["client_contact"]
    assert (contact["person_id"], contact["name"], contact["role"]) == (first, "Aigerim", None)
    assert contact["email"] == f"{first}@example.com"


async def test_a_lost_proposal_carries_its_version(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    since = await end_offsets(crm.stack.kafka_bootstrap, TOPIC)
    await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    lost = await crm.post(f"/proposals/{pid}/loss", 2, {"reason": "Price"})
    assert lost.status_code == 200, lost.text

    _, message = await _first_with_key(crm.stack.kafka_bootstrap, since, pid, "ProposalLost")
    assert (message["schema_version"], message["payload"]["version"]) == (2, 3)


async def test_the_asyncapi_document_describes_proposal_won(crm: Any) -> None:
    document = (await crm.http.get("/asyncapi")).json()
    text = json.dumps(document)
    for name in ("ProposalWon", "ProposalLost", "PlanStepAssigned", "CatalogItemChanged"):
        assert name in text
    assert "hand-over to the back office" in text
    # A back office reading only this document learns that messages are envelopes...
    envelope = document["components"]["schemas"]["Envelope"]
    assert {"event_id", "event_type", "key", "correlation_id", "payload"} <= set(
        envelope["required"] + list(envelope["properties"])
    )
    message = document["components"]["messages"]["ProposalWon"]["payload"]
    assert message["allOf"] == [{"$ref": "#/components/schemas/Envelope"}]
    assert message["properties"]["payload"] == {"$ref": "#/components/schemas/ProposalWon"}
    assert "`amount_minor`" in document["info"]["description"]
    # ...and what ProposalWon's payload holds.
    won = document["components"]["schemas"]["ProposalWon"]
    assert {"client_id", "curator_id", "lines", "totals", "currency"} <= set(won["required"])
    line = document["components"]["schemas"]["ProposalLine"]["properties"]
    assert {"item_code", "quantity", "unit_price", "discount_amount", "line_total"} <= set(line)


async def test_a_contact_recorded_for_a_proposal_appears_in_its_history(crm: Any) -> None:
    client_id, curator = await crm.client_with_curator()
    item = await crm.catalogue_item()
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 1}]))["id"]
    await crm.post(f"/proposals/{pid}/status", 1, {"status": "presented"})
    contact_id = uuid.uuid4().hex
    await crm.publish(
        ContactRecorded(
            contact_id=contact_id,
            client_id=client_id,
            employee_id=curator,
            kind=ContactKind.MEETING,
            direction=ContactDirection.OUTBOUND,
            occurred_at=datetime.now(UTC),
            summary="Wants on-site training",
            outcome="send a revised offer",
            need_item_codes=(item,),
            proposal_id=pid,
            recorded_at=datetime.now(UTC),
        )
    )

    async def history() -> Any:
        entries = (await crm.http.get(f"/proposals/{pid}/history", headers=crm.auth())).json()
        return entries if any(e["kind"] == "contact" for e in entries) else None

    entries = await eventually(history, within=120, what="the contact in the history")
    assert [e["kind"] for e in entries] == ["registered", "status_changed", "contact"]
    contact = entries[-1]
    assert (contact["contact_id"], contact["employee_id"], contact["need_item_codes"]) == (
        contact_id,
        curator,
        [item],
    )
    assert contact["summary"] == "Wants on-site training — send a revised offer"
