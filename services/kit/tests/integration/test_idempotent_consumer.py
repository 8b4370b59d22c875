"""The idempotent consumer with retries and dead letters, on the real broker and store."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS, dead_letter_topic
from crm_kit.app import ServiceSpec, Subscription, create_app
from crm_kit.consumer import DLQ_ATTEMPTS, DLQ_ERROR, DLQ_SOURCE_TOPIC, headers_of
from crm_kit.logs import current_correlation_id
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    client_registered,
    end_offsets,
    eventually,
    read_topic,
    running,
    service_env,
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

    async def handle(self, rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        if not event.name.startswith(self.run):
            return  # an event of another test on the shared topic
        self.attempts[event.client_id] += 1
        self.correlations[event.client_id] = current_correlation_id()
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
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
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
    # The handler ran with the envelope's correlation id, which the JSON logs carry.
    assert recorder.correlations[event.client_id] == "dup-corr"


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_next_message_proceeds(
    stack: StackEndpoints, consumer_app: Any
) -> None:
    app, recorder, settings = consumer_app
    poison = client_registered(f"{recorder.run} poison")
    good = client_registered(f"{recorder.run} the next one")
    dlq = dead_letter_topic(CONTACTS, settings.consumer_group)
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
