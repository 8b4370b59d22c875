"""The fixtures leave no topics behind on a long-lived broker: ``running`` forgets its test group
(dead-letter topics and committed offsets) and ``FreshTopics`` deletes the topics of a test."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS, dead_letter_topic
from crm_kit.app import ServiceSpec, Subscription, create_app
from crm_kit.consumer import DLQ_GROUP, headers_of
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    FreshTopics,
    JwtKeys,
    StackEndpoints,
    client_registered,
    delete_topics,
    eventually,
    forget_groups_blocking,
    free_port,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
    unique,
)


class CleanupSettings(ServiceSettings):
    service_name: ClassVar[str] = "cleanuptest"


async def _topics(bootstrap: str) -> set[str]:
    """Every topic the broker lists (a full listing: asking for one topic by name could have the
    broker create it again)."""
    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


async def _committed(bootstrap: str, group: str) -> dict[Any, Any]:
    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    await admin.start()
    try:
        return dict(await admin.list_consumer_group_offsets(group))
    finally:
        await admin.close()


async def _gone(bootstrap: str, *names: str) -> bool:
    return not set(names) & await _topics(bootstrap)


def _app(stack: StackEndpoints, jwt_keys: JwtKeys, poison: str = "", **overrides: Any) -> Any:
    """A consumer of the contacts topic whose handler fails on the event named ``poison``."""

    async def handle(rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
        if poison and event.name == poison:
            raise RuntimeError("this event is poison to the cleanup test")

    spec = ServiceSpec(
        name="cleanuptest",
        title="cleanup test",
        subscriptions=[Subscription(topics=(CONTACTS,), handlers={ClientRegistered: handle})],
    )
    env = service_env(stack, jwt_keys, "cleanuptest", consumer_max_attempts=1, **overrides)
    return create_app(spec, CleanupSettings(**env))


async def test_running_deletes_its_groups_dead_letter_topic_and_offsets_once_the_app_stops(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    bootstrap = stack.kafka_bootstrap
    poison = client_registered(unique("cleanup-poison"))
    app = _app(stack, jwt_keys, poison=poison.name)
    group = app.state.settings.consumer_group
    dlq = dead_letter_topic(CONTACTS, group)
    key = poison.client_id.encode()

    async with running(app):
        producer = AIOKafkaProducer(**stack_kafka_options(bootstrap), acks="all")
        await producer.start()
        try:
            raw = Envelope.wrap(poison, producer="kit-test").to_bytes()
            await producer.send_and_wait(CONTACTS, raw, key=key)
        finally:
            await producer.stop()
        dead = await read_topic(
            bootstrap, dlq, until_idle=0.5, stop_when=lambda rs: any(r.key == key for r in rs)
        )
        assert [headers_of(r.headers)[DLQ_GROUP] for r in dead if r.key == key] == [group]
        assert dlq in await _topics(bootstrap)
        assert await _committed(bootstrap, group), "the group committed offsets"

    await eventually(lambda: _gone(bootstrap, dlq), within=30, what=f"{dlq} deleted")
    assert await _committed(bootstrap, group) == {}


async def test_a_group_the_test_did_not_make_keeps_its_dead_letter_topics(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    """A test run under a shared group's name (as ``crm-contacts``) must not delete its letters:
    ``running`` forgets only the groups ``service_env`` made."""
    bootstrap = stack.kafka_bootstrap
    group = unique("test-cleanup-shared")  # stands for a shared group, unique for this run
    app = _app(stack, jwt_keys, consumer_group=group)
    dlq = dead_letter_topic(CONTACTS, group)
    async with running(app):
        assert dlq in await _topics(bootstrap)  # the kit creates it at start-up

    assert dlq in await _topics(bootstrap)
    assert await _committed(bootstrap, group)
    # What a fixture for service processes does once they stopped.
    forget_groups_blocking(bootstrap, [group])
    assert dlq not in await _topics(bootstrap)
    assert await _committed(bootstrap, group) == {}


async def test_fresh_topics_are_deleted_when_the_test_is_done(stack: StackEndpoints) -> None:
    bootstrap = stack.kafka_bootstrap
    async with FreshTopics(bootstrap) as topics:
        source = topics.name("test.kit.cleanup")
        letters = topics.adopt(dead_letter_topic(source, "crm-test"))
        never_made = topics.name("test.kit.cleanup")
        await topics.create(source, letters, partitions=2)
        listed = await _topics(bootstrap)
        assert {source, letters} <= listed
        assert never_made not in listed

    await eventually(
        lambda: _gone(bootstrap, source, letters), within=30, what="the fresh topics deleted"
    )


async def test_deleting_a_topic_already_gone_is_quiet_and_a_real_failure_is_logged(
    stack: StackEndpoints, caplog: pytest.LogCaptureFixture
) -> None:
    def warned() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "crm_kit.testing"]

    caplog.set_level(logging.WARNING, logger="crm_kit.testing")
    await delete_topics(stack.kafka_bootstrap, [unique("test.kit.never-made")])
    assert warned() == []

    nobody = f"127.0.0.1:{free_port()}"
    await delete_topics(nobody, ["test.kit.anything"])
    assert [r.getMessage() for r in warned()] == [
        "could not delete test topics ['test.kit.anything']"
    ]
    assert warned()[0].exc_info is not None

    with pytest.raises(ValueError, match="refusing to delete shared topics"):
        await delete_topics(stack.kafka_bootstrap, [CONTACTS])
