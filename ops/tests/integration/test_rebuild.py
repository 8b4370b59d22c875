"""`crm rebuild`: a projection replayed from its topics equals the live one, and can replace it."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.contacts import ClientRegistered, ClientStatusChanged, EmployeeRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_contracts.topics import CONTACTS
from crm_kit.app import ServiceSpec, Subscription, create_app
from crm_kit.rebuild import RefusingPublisher, rebuild
from crm_kit.runtime import Runtime
from crm_kit.testing import (
    FreshTopics,
    JwtKeys,
    StackEndpoints,
    eventually,
    running,
    service_env,
    stack_kafka_options,
)
from crm_ops import kafka
from crm_proposals.app import SPEC, ProposalsSettings
from crm_proposals.repository import CLIENTS


def _fresh(kind: type[Any], **ids: str) -> Any:
    template = next(e for e in example_events() if isinstance(e, kind))
    return template.model_copy(update=ids)


async def _caught_up(bootstrap: str, group: str, topic: str) -> bool:
    rows = await kafka.lag(bootstrap, group)
    return bool(rows) and all(r.lag == 0 for r in rows if r.topic == topic)


async def test_a_rebuilt_projection_equals_the_live_one_and_can_replace_a_damaged_one(
    stack: StackEndpoints, jwt_keys: JwtKeys, fresh_topics: FreshTopics
) -> None:
    events = [
        _fresh(ClientRegistered, client_id=str(uuid.uuid4())),
        _fresh(ClientRegistered, client_id=str(uuid.uuid4())),
        _fresh(EmployeeRegistered, employee_id=str(uuid.uuid4())),
    ]
    # The proposals service's own projection handlers, fed from a private copy of the contacts
    # topic, so the replay covers this test's events and not the shared stack's whole history.
    topic = fresh_topics.name("test.rebuild")
    await fresh_topics.create(topic, partitions=3)
    (contacts_subscription,) = [s for s in SPEC.subscriptions if CONTACTS in s.topics]
    spec = dataclasses.replace(
        SPEC,
        routers=[],
        subscriptions=[dataclasses.replace(contacts_subscription, topics=(topic,))],
    )
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for event in events:
            raw = Envelope.wrap(event, producer="ops-test").to_bytes()
            await producer.send_and_wait(topic, raw, key=event.aggregate_key().encode())
    finally:
        await producer.stop()

    # The live consumer must read the topic from its start, like the rebuild does.
    env = service_env(stack, jwt_keys, "proposals", consumer_start_at_end=False)
    settings = ProposalsSettings(**env)
    app: Any = create_app(spec, settings)
    async with running(app):
        db = app.state.runtime.db
        await eventually(
            lambda: _caught_up(stack.kafka_bootstrap, settings.consumer_group, topic),
            what="the live consumer caught up with its topic",
            within=60,
            interval=0.5,
        )
        report = await rebuild(spec, settings)
        assert report.failures == []
        by_name = {c.name: c for c in report.collections}
        assert by_name[CLIENTS].live_count == 2
        assert report.events_applied == 3
        assert report.equal, [(c.name, c.live_count, c.rebuilt_count) for c in report.collections]

        await db[CLIENTS].delete_one({"_id": events[0].client_id})
        damaged = await rebuild(spec, settings)
        assert not damaged.equal
        repaired = await rebuild(spec, settings, apply=True)
        assert repaired.applied
        assert await db[CLIENTS].find_one({"_id": events[0].client_id}) is not None
        assert (await rebuild(spec, settings)).equal


async def test_a_rebuild_keeps_the_events_its_handlers_write_and_sends_none(
    stack: StackEndpoints, jwt_keys: JwtKeys, fresh_topics: FreshTopics
) -> None:
    """A handler that publishes (through the outbox, as every handler does) writes its event to
    the scratch outbox, which nothing relays: the real topic gets nothing, and the relay handed
    to the handlers could not send even if it were started."""
    topic = fresh_topics.name("test.rebuild_reacting")
    await fresh_topics.create(topic)
    registered = _fresh(ClientRegistered, client_id=str(uuid.uuid4()))

    async def react(runtime: Runtime, event: ClientRegistered, envelope: Envelope) -> None:
        status = _fresh(ClientStatusChanged, client_id=event.client_id)

        async def work(session: Any) -> None:
            await runtime.db["reacted"].insert_one({"_id": event.client_id}, session=session)
            await runtime.events.add(session, runtime.events.entries([status]))

        await runtime.events.transaction(work)
        assert status.topic == CONTACTS

    spec = ServiceSpec(
        name="rebuild-test",
        title="a service whose handler publishes",
        projections=["reacted"],
        subscriptions=[Subscription(topics=(topic,), handlers={ClientRegistered: react})],
    )
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        raw = Envelope.wrap(registered, producer="ops-test").to_bytes()
        await producer.send_and_wait(topic, raw, key=registered.aggregate_key().encode())
    finally:
        await producer.stop()
    settings = ProposalsSettings(**service_env(stack, jwt_keys, "proposals"))

    before = await kafka.topics(stack.kafka_bootstrap, prefix=CONTACTS)
    report = await rebuild(spec, settings)
    assert report.failures == []
    assert report.events_applied == 1
    assert report.held_back == 1
    (reacted,) = report.collections
    assert (reacted.live_count, reacted.rebuilt_count) == (0, 1)
    assert await kafka.topics(stack.kafka_bootstrap, prefix=CONTACTS) == before

    with pytest.raises(RuntimeError, match="publishes nothing"):
        await RefusingPublisher().send(CONTACTS, b"k", b"v")
