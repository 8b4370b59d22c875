"""A new consumer group set to start at the end skips history and takes what comes after."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from aiokafka import AIOKafkaProducer
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_contracts.topics import CONTACTS
from crm_kit.app import ServiceSpec, Subscription, create_app
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    eventually,
    running,
    service_env,
    stack_kafka_options,
)


class StartSettings(ServiceSettings):
    service_name: ClassVar[str] = "starttest"


def _registered() -> ClientRegistered:
    template = next(e for e in example_events() if isinstance(e, ClientRegistered))
    return template.model_copy(update={"client_id": str(uuid.uuid4())})


async def _publish(stack: StackEndpoints, event: ClientRegistered) -> None:
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        raw = Envelope.wrap(event, producer="kit-test").to_bytes()
        await producer.send_and_wait(CONTACTS, raw, key=event.client_id.encode())
    finally:
        await producer.stop()


async def test_a_group_started_at_the_end_sees_only_what_comes_after_it(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    seen: list[str] = []

    async def record(rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        seen.append(event.client_id)

    before, after = _registered(), _registered()
    await _publish(stack, before)
    spec = ServiceSpec(
        name="starttest",
        title="start test",
        subscriptions=[Subscription(topics=(CONTACTS,), handlers={ClientRegistered: record})],
    )
    settings = StartSettings(
        **service_env(stack, jwt_keys, "starttest", consumer_start_at_end=True)
    )
    app: Any = create_app(spec, settings)
    async with running(app):
        await _publish(stack, after)
        await eventually(lambda: after.client_id in seen, what="the later event handled")
    assert before.client_id not in seen
    assert seen.count(after.client_id) == 1
