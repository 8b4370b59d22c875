"""The idempotent consumer with retries and dead letters, on the real broker and store."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS, dead_letter_topic
from crm_kit.app import ServiceSpec, Subscription, create_app
from crm_kit.consumer import (
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_SOURCE_TOPIC,
    PROCESSED,
    IdempotentConsumer,
    Outcome,
    RecordInfo,
    headers_of,
)
from crm_kit.logs import current_correlation_id
from crm_kit.outbox import Document, outbox_entry
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    client_registered,
    committed_offsets,
    end_offsets,
    eventually,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
)

MAX_ATTEMPTS = 3


class KitTestSettings(ServiceSettings):
    service_name: ClassVar[str] = "kittest"


class Recorder:
    """The test's handler: counts effects in the store and attempts in memory."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.attempts: Counter[str] = Counter()
        self.correlations: dict[str, str | None] = {}
        self.written: dict[str, Document] = {}

    async def handle(self, rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        if not event.name.startswith(self.run):
            return  # an event of another test on the shared topic
        self.attempts[event.client_id] += 1
        self.correlations[event.client_id] = current_correlation_id()
        # What an event written now by the handler would carry.
        self.written[event.client_id] = outbox_entry(event, producer="kittest")
        if "poison" in event.name:
            raise RuntimeError(f"cannot handle {event.name}: poison")
        # Deliberately not idempotent: a second effect would show as count 2.
        await rt.db["effects"].update_one(
            {"_id": event.client_id}, {"$inc": {"count": 1}}, upsert=True
        )


@pytest.fixture
async def consumer_app(stack: StackEndpoints, jwt_keys: JwtKeys) -> Any:
    run = f"run-{uuid.uuid4().hex[:8]}"
    recorder = Recorder(run)
    spec = ServiceSpec(
        name="kittest",
        title="kit test",
        subscriptions=[
            Subscription(topics=(CONTACTS,), handlers={ClientRegistered: recorder.handle})
        ],
    )
    settings = KitTestSettings(
        **service_env(stack, jwt_keys, "kittest", consumer_max_attempts=MAX_ATTEMPTS)
    )
    app = create_app(spec, settings)
    async with running(app):
        yield app, recorder, settings


async def _produce(stack: StackEndpoints, *records: tuple[bytes, bytes]) -> None:
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(CONTACTS, value=value, key=key)
    finally:
        await producer.stop()


async def _dead_letters(
    stack: StackEndpoints, dlq: str, since: dict[int, int], key: bytes
) -> list[Any]:
    """Dead letters of this test's key (the group also reads earlier runs' leftovers)."""
    records = await read_topic(
        stack.kafka_bootstrap, dlq, since=since, stop_when=lambda rs: any(r.key == key for r in rs)
    )
    return [r for r in records if r.key == key]


async def _count(app: Any, client_id: str) -> int:
    doc = await app.state.runtime.db["effects"].find_one({"_id": client_id})
    return int(doc["count"]) if doc else 0


async def test_the_same_event_delivered_twice_has_one_effect(
    stack: StackEndpoints, consumer_app: Any
) -> None:
    app, recorder, _ = consumer_app
    event = client_registered(f"{recorder.run} twice")
    sentinel = client_registered(f"{recorder.run} sentinel")
    raw = Envelope.wrap(event, producer="kit-test", correlation_id="dup-corr").to_bytes()
    key = event.client_id.encode()
    # The sentinel shares the key, so once it is handled both copies before it were too.
    await _produce(
        stack, (key, raw), (key, raw), (key, Envelope.wrap(sentinel, producer="t").to_bytes())
    )
    await eventually(lambda: _count(app, sentinel.client_id), what="sentinel handled")
    assert await _count(app, event.client_id) == 1
    assert recorder.attempts[event.client_id] == 1
    # The handler ran with the envelope's correlation id, which the JSON logs carry, and the
    # events it writes carry it too, caused by the event handled.
    assert recorder.correlations[event.client_id] == "dup-corr"
    written = recorder.written[event.client_id]
    assert written["correlation_id"] == "dup-corr"
    assert Envelope.from_bytes(written["value"]).correlation_id == "dup-corr"
    assert Envelope.from_bytes(written["value"]).causation_id == str(
        Envelope.from_bytes(raw).event_id
    )


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_next_message_proceeds(
    stack: StackEndpoints, consumer_app: Any
) -> None:
    app, recorder, settings = consumer_app
    poison = client_registered(f"{recorder.run} poison")
    good = client_registered(f"{recorder.run} the next one")
    dlq = dead_letter_topic(CONTACTS, settings.consumer_group)
    assert dlq == f"crm.contacts.v1.dlq.{settings.consumer_group}"  # <topic>.dlq.<group>
    since = await end_offsets(stack.kafka_bootstrap, dlq)
    key = poison.client_id.encode()
    poison_raw = Envelope.wrap(poison, producer="kit-test").to_bytes()
    await _produce(
        stack, (key, poison_raw), (key, Envelope.wrap(good, producer="kit-test").to_bytes())
    )
    await eventually(lambda: _count(app, good.client_id), what="the next message handled")

    assert recorder.attempts[poison.client_id] == MAX_ATTEMPTS
    assert await _count(app, poison.client_id) == 0
    dead = await _dead_letters(stack, dlq, since, key)
    assert [r.value for r in dead] == [poison_raw]
    headers = headers_of(dead[0].headers)
    assert "poison" in headers[DLQ_ERROR]
    assert headers[DLQ_ATTEMPTS] == str(MAX_ATTEMPTS)
    assert headers[DLQ_SOURCE_TOPIC] == CONTACTS


async def test_an_unparseable_message_is_dead_lettered_and_does_not_stop_the_consumer(
    stack: StackEndpoints, consumer_app: Any
) -> None:
    app, recorder, settings = consumer_app
    good = client_registered(f"{recorder.run} after garbage")
    dlq = dead_letter_topic(CONTACTS, settings.consumer_group)
    since = await end_offsets(stack.kafka_bootstrap, dlq)
    key = good.client_id.encode()
    garbage = b"{this is not an envelope"
    await _produce(stack, (key, garbage), (key, Envelope.wrap(good, producer="t").to_bytes()))
    await eventually(lambda: _count(app, good.client_id), what="the next message handled")

    dead = await _dead_letters(stack, dlq, since, key)
    assert [r.value for r in dead] == [garbage]
    assert headers_of(dead[0].headers)[DLQ_ATTEMPTS] == "0"


class _DeadLetterSink:
    """The dead-letter publisher of a consumer driven directly: records what it is given."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Any:
        self.sent.append((topic, value, dict(headers or {})))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_markers_are_per_group_and_the_metrics_count_each_outcome(mongo_db: Any) -> None:
    from prometheus_client import REGISTRY

    service = f"kit-consumer-{uuid.uuid4().hex[:8]}"
    effects: Counter[tuple[str, str]] = Counter()
    waits: list[tuple[str, float]] = []

    def consumer(group: str, sink: _DeadLetterSink) -> IdempotentConsumer:
        async def handle(event: ClientRegistered, _: Envelope) -> None:
            if "poison" in event.name:
                raise RuntimeError("poison")
            effects[(group, event.client_id)] += 1

        async def no_wait(seconds: float) -> None:
            waits.append((group, seconds))

        return IdempotentConsumer(
            db=mongo_db,
            dead_letters=sink,
            service=service,
            group=group,
            handlers={ClientRegistered.event_type: handle},
            max_attempts=MAX_ATTEMPTS,
            backoff_s=0.25,
            sleep=no_wait,
        )

    sink = _DeadLetterSink()
    first, second = consumer("group-a", sink), consumer("group-b", _DeadLetterSink())
    event = client_registered("once per group")
    envelope = Envelope.wrap(event, producer="kit-test")
    raw = envelope.to_bytes()
    poison_raw = Envelope.wrap(client_registered("poison"), producer="kit-test").to_bytes()
    record = RecordInfo(CONTACTS, 0, 7, event.client_id.encode())

    assert await first.process(raw, record) == Outcome.PROCESSED
    assert await first.process(raw, record) == Outcome.DUPLICATE
    assert await second.process(raw, record) == Outcome.PROCESSED  # its own marker
    assert await second.process(raw, record) == Outcome.DUPLICATE
    assert effects == {("group-a", event.client_id): 1, ("group-b", event.client_id): 1}
    markers = await mongo_db[PROCESSED].count_documents({"event_id": str(envelope.event_id)})
    assert markers == 2

    assert await first.process(b"\xff not json", record) == Outcome.DEAD_LETTERED
    assert await first.process(poison_raw, record) == Outcome.DEAD_LETTERED
    assert [(topic, value) for topic, value, _ in sink.sent] == [
        (dead_letter_topic(CONTACTS, "group-a"), b"\xff not json"),
        (dead_letter_topic(CONTACTS, "group-a"), poison_raw),
    ]
    assert "poison" in sink.sent[1][2][DLQ_ERROR]
    assert waits == [("group-a", 0.25), ("group-a", 0.5)]  # bounded, backing off between tries

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"service": service, "group": "group-a", **labels})

    assert sample("crm_events_consumed_total", outcome="processed") == 1.0
    assert sample("crm_events_consumed_total", outcome="duplicate") == 1.0
    assert sample("crm_events_consumed_total", outcome="dead_lettered") == 2.0
    assert sample("crm_events_dead_lettered_total", topic=CONTACTS) == 2.0
    assert sample("crm_event_handler_retries_total") == float(MAX_ATTEMPTS - 1)


class _Gate:
    """A handler that holds this run's event until released, then stores its effect."""

    def __init__(self, run: str) -> None:
        self.run = run
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def handle(self, rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        if not event.name.startswith(self.run):
            return
        self.entered.set()
        await asyncio.wait_for(self.release.wait(), timeout=120)
        await rt.db["effects"].update_one(
            {"_id": event.client_id}, {"$inc": {"count": 1}}, upsert=True
        )


async def _committed(bootstrap: str, group: str, partition: int) -> int:
    return (await committed_offsets(bootstrap, group, CONTACTS)).get(partition, -1)


async def test_the_offset_is_committed_only_after_the_effect_is_stored(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    gate = _Gate(f"run-{uuid.uuid4().hex[:8]}")
    spec = ServiceSpec(
        name="kittest",
        title="kit test",
        subscriptions=[Subscription(topics=(CONTACTS,), handlers={ClientRegistered: gate.handle})],
    )
    settings = KitTestSettings(**service_env(stack, jwt_keys, "kittest"))
    app = create_app(spec, settings)
    event = client_registered(f"{gate.run} held")
    async with running(app):
        producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                CONTACTS,
                Envelope.wrap(event, producer="kit-test").to_bytes(),
                key=event.client_id.encode(),
            )
        finally:
            await producer.stop()
        try:
            await eventually(gate.entered.is_set, what="the handler holding the event")
            # The handler runs and nothing is stored yet: the offset has not moved past it.
            held = await _committed(stack.kafka_bootstrap, settings.consumer_group, sent.partition)
            assert held <= sent.offset
            assert await _count(app, event.client_id) == 0
        finally:
            gate.release.set()

        async def moved_on() -> bool:
            committed = await _committed(
                stack.kafka_bootstrap, settings.consumer_group, sent.partition
            )
            return committed > sent.offset

        await eventually(moved_on, what="the offset committed past the event")
        assert await _count(app, event.client_id) == 1


def test_every_subscriber_acknowledges_manually_on_an_idempotent_acks_all_producer(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    from crm_kit.app import build_broker
    from faststream import AckPolicy

    spec = ServiceSpec(
        name="kittest",
        title="kit test",
        subscriptions=[Subscription(topics=(CONTACTS,), handlers={ClientRegistered: _noop})],
    )
    settings = KitTestSettings(**service_env(stack, jwt_keys, "kittest"))
    app = create_app(spec, settings)
    broker = app.state.broker
    subscribers = list(broker.subscribers)
    assert len(subscribers) == 1
    assert subscribers[0].ack_policy is AckPolicy.MANUAL  # never FastStream's ACK_FIRST
    for built in (broker, build_broker(spec, settings)):
        producer_config = built._connection_kwargs
        assert producer_config["acks"] == "all"
        assert producer_config["enable_idempotence"] is True
        assert producer_config["max_batch_size"] == settings.kafka_batch_bytes == 262_144


def test_a_producer_batch_is_never_larger_than_a_message_the_broker_takes(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    from crm_kit.app import build_broker

    spec = ServiceSpec(name="kittest", title="kit test", subscriptions=[])
    env = service_env(stack, jwt_keys, "kittest")
    small = KitTestSettings(
        **{**env, "kafka_max_message_bytes": 131_072, "event_max_bytes": 65_536}
    )
    assert build_broker(spec, small)._connection_kwargs["max_batch_size"] == 131_072
    tuned = KitTestSettings(**{**env, "kafka_batch_bytes": 65_536, "kafka_linger_ms": 5})
    kwargs = build_broker(spec, tuned)._connection_kwargs
    assert (kwargs["max_batch_size"], kwargs["linger_ms"]) == (65_536, 5)


async def _noop(rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
    return None


async def test_the_consumers_log_lines_for_an_event_carry_its_correlation_id(
    mongo_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json
    import logging

    from crm_kit.logs import configure_logging

    async def failing(event: ClientRegistered, _: Envelope) -> None:
        raise RuntimeError("cannot")

    async def no_wait(_: float) -> None:
        return None

    consumer = IdempotentConsumer(
        db=mongo_db,
        dead_letters=_DeadLetterSink(),
        service="kittest",
        group=f"group-{uuid.uuid4().hex[:8]}",
        handlers={ClientRegistered.event_type: failing},
        max_attempts=2,
        sleep=no_wait,
    )
    event = client_registered("logged")
    raw = Envelope.wrap(event, producer="kit-test", correlation_id="corr-dlq-9").to_bytes()
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("kittest", "INFO", as_json=True)
    try:
        outcome = await consumer.process(raw, RecordInfo(CONTACTS, 2, 40, b"k"))
    finally:
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, "_crm_handler", False):
                logging.getLogger().removeHandler(handler)
    assert outcome == Outcome.DEAD_LETTERED
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    ours = [line for line in lines if line["logger"] == "crm_kit.consumer"]
    assert [line["message"].split()[0] for line in ours] == ["handler", "dead-lettered"]
    assert [line["correlation_id"] for line in ours] == ["corr-dlq-9", "corr-dlq-9"]
