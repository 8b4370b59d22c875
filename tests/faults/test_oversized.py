"""Nothing too big stalls a consumer or the outbox relay (issue 15), on the real broker and store.

- A 3 MB value, gzip-compressed so the broker takes it, produced straight to contacts' topic:
  proposals' consumer dead-letters it in a form that fits (its headers, its coordinates, the
  error, its body cut to a preview and flagged), and the good event after it on the same
  partition is processed. ``crm dlq replay`` refuses the truncated letter.
- ``POST /events`` on campaigns with a 1.2 MB ``venue``: a 413 (or 422) problem+json naming
  the event type and its size; nothing stored, nothing published.
- An outbox document the broker refuses (stored before events were bounded at the write) is
  set aside in ``outbox_failed``, and the event written after it is published.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_campaigns.app import create as create_campaigns
from crm_campaigns.settings import CampaignsSettings
from crm_contracts.campaigns import EventScheduled
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_contracts.topics import CAMPAIGNS, CONTACTS, dead_letter_topic
from crm_kit.consumer import PROCESSED, headers_of
from crm_kit.dead_letters import (
    DLQ_ERROR_TYPE,
    DLQ_GROUP,
    DLQ_ORIGINAL_SIZE,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TIMESTAMP,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
    PREVIEW_BYTES,
)
from crm_kit.outbox import OUTBOX, outbox_entry
from crm_kit.problems import PROBLEM_MEDIA_TYPE
from crm_kit.records import KAFKA_DEFAULT_MAX_MESSAGE_BYTES, record_size
from crm_kit.relay import OUTBOX_FAILED
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    eventually,
    http_client,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
)
from crm_ops import kafka as ops_kafka
from crm_proposals.app import create as create_proposals
from crm_proposals.settings import ProposalsSettings
from fastapi import FastAPI

pytestmark = pytest.mark.integration

EXAMPLES = {type(event): event for event in example_events()}
THREE_MB = 3 * 1024 * 1024
BIG_FIELD = "v" * 1_200_000


async def _processed(app: FastAPI, group: str, event_id: str) -> bool:
    marker = await app.state.runtime.db[PROCESSED].find_one({"group": group, "event_id": event_id})
    return marker is not None


async def test_a_3_mb_compressed_record_is_dead_lettered_so_it_fits_and_the_next_is_processed(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    key = f"oversized-{uuid.uuid4().hex}"
    template = EXAMPLES[ClientRegistered]
    good = Envelope.wrap(template, producer="fault-test", key=key)
    big = good.model_copy(
        update={"event_id": uuid.uuid4(), "payload": {**good.payload, "name": "n" * THREE_MB}}
    ).to_bytes()
    assert len(big) > THREE_MB

    app = create_proposals(ProposalsSettings(**service_env(stack, jwt_keys, "proposals")))
    async with running(app):
        group = app.state.settings.consumer_group
        producer = AIOKafkaProducer(
            **stack_kafka_options(stack.kafka_bootstrap),
            acks="all",
            compression_type="gzip",
            max_request_size=8 * 1024 * 1024,
        )
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                CONTACTS, big, key=key.encode(), headers=[("trace-id", b"attack-1")]
            )
            after = await producer.send_and_wait(CONTACTS, good.to_bytes(), key=key.encode())
        finally:
            await producer.stop()
        assert after.partition == sent.partition

        await eventually(
            lambda: _processed(app, group, str(good.event_id)),
            within=60,
            what="the good event after the 3 MB record processed",
        )
        dlq = dead_letter_topic(CONTACTS, group)
        records = await read_topic(
            stack.kafka_bootstrap,
            dlq,
            until_idle=0.5,
            stop_when=lambda rs: any(r.key == key.encode() for r in rs),
        )
        # The operator's replay refuses it: only its start was kept. (The test's dead-letter
        # topic goes with the app.)
        replay = await ops_kafka.replay_all(stack.kafka_bootstrap, dlq, dry_run=True)
    assert any(r.key == key.encode() for r in replay.refused)
    assert not any(r.key == key.encode() for r in replay.replayed)
    [letter] = [r for r in records if r.key == key.encode()]
    headers = headers_of(letter.headers)
    assert letter.value == big[:PREVIEW_BYTES]
    assert headers[DLQ_TRUNCATED] == "true"
    assert headers[DLQ_ORIGINAL_SIZE] == str(len(big))
    assert headers[DLQ_ERROR_TYPE] == "OversizedRecord"
    assert (
        headers[DLQ_SOURCE_TOPIC],
        headers[DLQ_SOURCE_PARTITION],
        headers[DLQ_SOURCE_OFFSET],
        headers[DLQ_SOURCE_TIMESTAMP],
        headers[DLQ_GROUP],
    ) == (CONTACTS, str(sent.partition), str(sent.offset), str(sent.timestamp), group)
    assert headers["trace-id"] == "attack-1"
    assert record_size(letter.key, letter.value, headers) < KAFKA_DEFAULT_MAX_MESSAGE_BYTES


@contextlib.asynccontextmanager
async def _campaigns(stack: StackEndpoints, keys: JwtKeys) -> AsyncIterator[tuple[Any, Any]]:
    app = create_campaigns(CampaignsSettings(**service_env(stack, keys, "campaigns")))
    async with running(app), http_client(app, conformance=True) as http:
        yield app, http


def _event_body(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "seminar",
        "title": "Pumps for water utilities",
        "topic": "New pump range",
        "place": {"venue": "Expo hall 3", "address": "Moscow, Tverskaya 1"},
        "starts_at": "2031-03-10T07:00:00+00:00",
        "ends_at": "2031-03-10T11:00:00+00:00",
        "timezone": "Europe/Moscow",
        "capacity": 50,
        "budget": {"amount_minor": 500_000_00, "currency": "RUB"},
        "responsible_employee_ids": ["emp-1"],
    }
    body.update(over)
    return body


async def _outbox_empty(app: Any) -> bool:
    return await app.state.runtime.db[OUTBOX].count_documents({}) == 0


async def test_a_huge_venue_is_refused_with_a_problem_and_nothing_is_stored_or_published(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    write = bearer(jwt_keys, "campaigns:read", "campaigns:write")
    async with _campaigns(stack, jwt_keys) as (app, http):
        await eventually(lambda: _outbox_empty(app), what="the outbox drained")
        before = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
        body = _event_body(place={"venue": BIG_FIELD, "address": "Moscow, Tverskaya 1"})
        response = await http.post("/events", json=body, headers=write)
        assert response.status_code in (413, 422), response.text[:500]
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        problem = response.json()
        assert problem["status"] == response.status_code
        if response.status_code == 413:
            assert problem["event_type"] == EventScheduled.event_type
            assert problem["size"] > problem["max_bytes"]
            assert EventScheduled.event_type in problem["detail"]
        db = app.state.runtime.db
        assert await db["events"].count_documents({"place.venue": BIG_FIELD}) == 0
        assert await db[OUTBOX].count_documents({}) == 0

        # The API still works, and what it publishes now is only the next, good event.
        created = await http.post("/events", json=_event_body(), headers=write)
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        records = await read_topic(
            stack.kafka_bootstrap,
            CAMPAIGNS,
            since=before,
            stop_when=lambda rs: any(r.key == event_id.encode() for r in rs),
            until_idle=1.0,
        )
    assert all(len(r.value) < 100_000 for r in records)
    assert all(r.key == event_id.encode() for r in records)


async def test_an_outbox_document_the_broker_refuses_is_set_aside_and_the_next_event_published(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    write = bearer(jwt_keys, "campaigns:read", "campaigns:write")
    async with _campaigns(stack, jwt_keys) as (app, http):
        db = app.state.runtime.db
        await eventually(lambda: _outbox_empty(app), what="the outbox drained")
        before = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
        # As a write made before events were bounded would have left it.
        template = EXAMPLES[EventScheduled]
        refused = outbox_entry(
            template.model_copy(update={"event_id": str(uuid.uuid4()), "title": BIG_FIELD}),
            producer="campaigns",
        )
        await db[OUTBOX].insert_one(refused)

        created = await http.post("/events", json=_event_body(), headers=write)
        assert created.status_code == 201, created.text
        event_id = created.json()["id"]
        records = await read_topic(
            stack.kafka_bootstrap,
            CAMPAIGNS,
            since=before,
            stop_when=lambda rs: any(r.key == event_id.encode() for r in rs),
            until_idle=1.0,
        )
        await eventually(lambda: _outbox_empty(app), what="the outbox drained")
        failed = await db[OUTBOX_FAILED].find({}).to_list()
    assert [f["event_id"] for f in failed] == [refused["event_id"]]
    assert failed[0]["error_type"] == "MessageSizeTooLargeError"
    published = [Envelope.from_bytes(r.value) for r in records if r.key == event_id.encode()]
    assert EventScheduled.event_type in {e.event_type for e in published}
    assert not any(r.key == refused["key"].encode() for r in records)
