"""The operational surface every service gets from the kit, on the real broker and store."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from crm_contracts.contacts import ClientRegistered, ClientSource
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_contracts.values import ClientKind, ClientSourceKind, ClientStatus
from crm_kit.app import ServiceSpec, create_app
from crm_kit.runtime import RuntimeDep
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    end_offsets,
    http_client,
    read_topic,
    running,
    service_env,
    stack_kafka_broker,
)
from fastapi import APIRouter
from pymongo import AsyncMongoClient


class OpsSettings(ServiceSettings):
    service_name: ClassVar[str] = "opstest"


router = APIRouter()


@router.post("/things", status_code=201)
async def make_thing(runtime: RuntimeDep) -> dict[str, str]:
    event = ClientRegistered(
        client_id=str(uuid.uuid4()),
        kind=ClientKind.ORGANISATION,
        name="operations",
        status=ClientStatus.POTENTIAL,
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=1,
        registered_at=datetime.now(UTC),
    )
    await runtime.outbox("things").insert({"_id": event.client_id}, [event])
    return {"id": event.client_id}


@pytest.fixture
async def ops(stack: StackEndpoints, jwt_keys: JwtKeys) -> Any:
    spec = ServiceSpec(
        name="opstest",
        title="ops test",
        routers=[router],
        produces=[ClientRegistered],
    )
    settings = OpsSettings(**service_env(stack, jwt_keys, "opstest"))
    app = create_app(spec, settings)
    async with running(app), http_client(app, conformance=True) as client:
        yield client


async def test_health_and_readiness_answer_with_their_checks(ops: Any) -> None:
    health = await ops.get("/healthz")
    assert health.status_code == 200
    ready = await ops.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"store": True, "broker": True, "outbox_relay": True},
    }


async def test_a_request_correlation_id_travels_into_the_published_envelope(
    stack: StackEndpoints, ops: Any
) -> None:
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    made = await ops.post("/things", headers={"X-Correlation-ID": "ops-corr-42"})
    assert made.status_code == 201
    assert made.headers["X-Correlation-ID"] == "ops-corr-42"
    key = made.json()["id"].encode()
    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        stop_when=lambda rs: any(r.key == key for r in rs),
    )
    envelopes = [Envelope.from_bytes(r.value) for r in records if r.key == key]
    assert [(e.producer, e.correlation_id) for e in envelopes] == [("opstest", "ops-corr-42")]
    # The record's correlation_id header is the envelope's, not one of the client's own.
    [record] = [r for r in records if r.key == key]
    assert dict(record.headers)["correlation_id"] == b"ops-corr-42"


async def test_a_request_without_a_correlation_id_gets_one_that_its_events_carry(
    stack: StackEndpoints, ops: Any
) -> None:
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    made = await ops.post("/things")
    assert made.status_code == 201
    given = made.headers["X-Correlation-ID"]
    key = made.json()["id"].encode()
    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        stop_when=lambda rs: any(r.key == key for r in rs),
    )
    [record] = [r for r in records if r.key == key]
    assert Envelope.from_bytes(record.value).correlation_id == given
    assert dict(record.headers)["correlation_id"] == given.encode()


async def test_metrics_count_published_events_and_time_requests(ops: Any) -> None:
    def published(text: str) -> float:
        prefix = 'crm_events_published_total{service="opstest",topic="crm.contacts.v1"} '
        lines = [line for line in text.splitlines() if line.startswith(prefix)]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    before = published((await ops.get("/metrics")).text)
    await ops.post("/things")
    await ops.post("/things")
    for _ in range(100):
        text = (await ops.get("/metrics")).text
        if published(text) >= before + 2:
            break
        await asyncio.sleep(0.1)
    assert published(text) == before + 2
    assert (
        'crm_http_request_duration_seconds_count{method="POST",route="/things",service="opstest",status="201"}'
        in text
    )


async def test_the_asyncapi_document_lists_what_the_service_publishes(ops: Any) -> None:
    document = (await ops.get("/asyncapi")).json()
    assert document["asyncapi"].startswith("3.")
    assert "ClientRegistered" in document["channels"]["crm.contacts.v1"]["messages"]
    assert document["operations"]["send.crm.contacts.v1"]["action"] == "send"


@pytest.fixture
async def ops_app(stack: StackEndpoints, jwt_keys: JwtKeys) -> Any:
    spec = ServiceSpec(name="opstest", title="ops test", routers=[router])
    app = create_app(spec, OpsSettings(**service_env(stack, jwt_keys, "opstest")))
    async with running(app), http_client(app, conformance=True) as client:
        yield app, client


async def test_readiness_fails_when_the_store_or_the_broker_does_not_answer(ops_app: Any) -> None:
    import dataclasses
    import socket

    from pymongo import AsyncMongoClient

    app, client = ops_app
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        nowhere = probe.getsockname()[1]
    runtime = app.state.runtime
    dead_store: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        f"mongodb://127.0.0.1:{nowhere}", serverSelectionTimeoutMS=300, connectTimeoutMS=300
    )
    dead_broker = stack_kafka_broker(f"127.0.0.1:{nowhere}")  # never connected
    try:
        app.state.runtime = dataclasses.replace(runtime, db=dead_store["nothing"])
        no_store = await client.get("/readyz")
        app.state.runtime = dataclasses.replace(runtime, broker=dead_broker)
        no_broker = await client.get("/readyz")
    finally:
        app.state.runtime = runtime
        await dead_store.close()
    assert (no_store.status_code, no_store.json()) == (
        503,
        {"status": "not ready", "checks": {"store": False, "broker": True, "outbox_relay": True}},
    )
    assert (no_broker.status_code, no_broker.json()) == (
        503,
        {"status": "not ready", "checks": {"store": True, "broker": False, "outbox_relay": True}},
    )
    assert (await client.get("/readyz")).status_code == 200


async def test_the_request_correlation_id_reaches_the_consumers_json_log_line(
    stack: StackEndpoints, jwt_keys: JwtKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json
    import logging

    from crm_kit.app import Subscription
    from crm_kit.runtime import Runtime

    made: set[str] = set()
    handled: asyncio.Event = asyncio.Event()

    async def on_registered(rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        if event.client_id in made:
            logging.getLogger("crm.logtest").info("handled client %s", event.client_id)
            handled.set()

    spec = ServiceSpec(
        name="logtest",
        title="log test",
        routers=[router],
        subscriptions=[
            Subscription(topics=(CONTACTS,), handlers={ClientRegistered: on_registered})
        ],
    )
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)  # where the kit's JSON log handler writes
    app = create_app(spec, OpsSettings(**service_env(stack, jwt_keys, "logtest", log_json=True)))
    try:
        async with running(app), http_client(app, conformance=True) as client:
            response = await client.post("/things", headers={"X-Correlation-ID": "log-corr-7"})
            assert response.status_code == 201
            made.add(response.json()["id"])
            await asyncio.wait_for(handled.wait(), timeout=60)
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_crm_handler", False):
                logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    [line] = [entry for entry in lines if entry["message"].startswith("handled client")]
    assert line["message"] == f"handled client {response.json()['id']}"
    assert line["correlation_id"] == "log-corr-7"
    assert line["service"] == "logtest"
    assert line["level"] == "INFO"


async def test_the_lifespan_makes_the_indexes_starts_everything_and_shuts_it_down(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    from pymongo.errors import InvalidOperation

    async def indexes(db: Any) -> None:
        await db["things"].create_index("name", name="things_by_name")

    spec = ServiceSpec(name="opstest", title="ops test", indexes=indexes)
    app = create_app(spec, OpsSettings(**service_env(stack, jwt_keys, "opstest")))
    async with running(app):
        runtime = app.state.runtime
        names = [index["name"] async for index in await runtime.db["things"].list_indexes()]
        assert "things_by_name" in names
        assert runtime.relay.running
        assert await runtime.broker.ping(timeout=5)
    assert not runtime.relay.running
    assert not await runtime.broker.ping(timeout=1)
    with pytest.raises(InvalidOperation):
        await runtime.db.command("ping")  # the client was closed
    async with AsyncMongoClient(stack.mongo_uri) as cleanup:
        await cleanup.drop_database(runtime.settings.mongo_database)
