"""The outbox relay on the real broker and store."""

from __future__ import annotations

from typing import Any

from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.outbox import OutboxCollection
from crm_kit.relay import OutboxRelay
from crm_kit.runtime import BrokerPublisher
from crm_kit.testing import StackEndpoints, client_registered, end_offsets, eventually, read_topic
from faststream.kafka import KafkaBroker


async def _published(stack: StackEndpoints, since: dict[int, int], ids: set[str]) -> list[str]:
    """Client ids of our events on the topic since ``since``, one entry per record."""

    def ours(records: list[Any]) -> list[str]:
        keys = [r.key.decode() for r in records if r.key and r.key.decode() in ids]
        return keys

    records = await read_topic(
        stack.kafka_bootstrap, CONTACTS, since=since, stop_when=lambda rs: set(ours(rs)) >= ids
    )
    found = []
    for r in records:
        if r.key and r.key.decode() in ids:
            envelope = Envelope.from_bytes(r.value)
            found.append(envelope.open_as(ClientRegistered).client_id)
    return found


async def test_writes_made_while_the_relay_is_stopped_are_published_exactly_once_when_it_starts(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    # More than the store can take in one bulk update (see the relay's PULL_CHUNK).
    events = [client_registered(f"stopped-relay {i}") for i in range(250)]
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    for event in events:
        await things.insert({"_id": event.client_id}, [event])
    assert await mongo_db["things"].count_documents({"outbox.0": {"$exists": True}}) == 250

    broker = KafkaBroker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(
        mongo_db, ["things"], BrokerPublisher(broker), service="kit-test", scan_interval=0.2
    )
    relay.start()
    try:
        await eventually(lambda: _pending(mongo_db), what="the outbox emptied", within=30)
    finally:
        await relay.stop()
        await broker.stop()

    published = await _published(stack, since, {e.client_id for e in events})
    assert sorted(published) == sorted(e.client_id for e in events)


async def _pending(db: Any) -> bool:
    return await db["things"].count_documents({"outbox.0": {"$exists": True}}) == 0


async def test_a_local_write_wakes_the_relay_without_waiting_for_a_scan(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    broker = KafkaBroker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    # A scan interval far beyond the test's patience: only the wake-up can publish in time.
    relay = OutboxRelay(
        mongo_db, ["things"], BrokerPublisher(broker), service="kit-test", scan_interval=3600
    )
    relay.start()
    try:
        await eventually(lambda: relay.running, what="relay started")
        things = OutboxCollection(mongo_db["things"], producer="kit-test", on_write=relay.wake)
        since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
        event = client_registered("woken")
        await things.insert({"_id": event.client_id}, [event])
        await eventually(lambda: _pending(mongo_db), what="the outbox emptied", within=20)
    finally:
        await relay.stop()
        await broker.stop()
    assert await _published(stack, since, {event.client_id}) == [event.client_id]


async def test_an_update_with_a_stale_version_is_refused_and_appends_no_event(
    mongo_db: Any,
) -> None:
    import pytest
    from crm_kit.problems import VersionConflict

    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    first = client_registered("versioned")
    await things.insert({"_id": first.client_id, "name": "a"}, [first])
    updated = await things.update(
        first.client_id, {"$set": {"name": "b"}}, [client_registered("second")], expected_version=1
    )
    assert updated["version"] == 2
    assert len(updated["outbox"]) == 2

    with pytest.raises(VersionConflict):
        await things.update(
            first.client_id,
            {"$set": {"name": "c"}},
            [client_registered("third")],
            expected_version=1,
        )
    stored = await mongo_db["things"].find_one({"_id": first.client_id})
    assert stored["name"] == "b"
    assert stored["version"] == 2
    assert len(stored["outbox"]) == 2


async def test_idle_scans_back_off_and_a_scan_that_finds_work_resets_them(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    broker = KafkaBroker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(
        mongo_db,
        ["things"],
        BrokerPublisher(broker),
        service="kit-test",
        scan_interval=0.25,
        max_scan_interval=1.0,
    )
    try:
        waits = [relay.next_scan_in]
        for _ in range(4):
            assert await relay.scan() == 0
            waits.append(relay.next_scan_in)
        assert waits == [0.25, 0.5, 1.0, 1.0, 1.0]

        # A write nobody woke the relay for (a peer that crashed): the scan finds it.
        since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
        things = OutboxCollection(mongo_db["things"], producer="kit-test")
        event = client_registered("found by a scan")
        await things.insert({"_id": event.client_id}, [event])
        assert await relay.scan() == 1
        assert relay.next_scan_in == 0.25
    finally:
        await broker.stop()
    assert await _published(stack, since, {event.client_id}) == [event.client_id]
