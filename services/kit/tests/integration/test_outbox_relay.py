"""The transactional outbox and its relay on the real broker and store."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.outbox import OUTBOX, Outbox, OutboxCollection
from crm_kit.problems import VersionConflict
from crm_kit.relay import LEASES, OutboxRelay
from crm_kit.runtime import BrokerPublisher
from crm_kit.testing import (
    StackEndpoints,
    client_registered,
    end_offsets,
    eventually,
    read_topic,
    stack_kafka_broker,
)


def _things(db: Any) -> OutboxCollection:
    return OutboxCollection(db["things"], Outbox(db, producer="kit-test"))


async def _published(stack: StackEndpoints, since: dict[int, int], ids: set[str]) -> list[str]:
    """Client ids of our events on the topic since ``since``, one entry per record."""

    def ours(records: list[Any]) -> list[str]:
        return [r.key.decode() for r in records if r.key and r.key.decode() in ids]

    records = await read_topic(
        stack.kafka_bootstrap, CONTACTS, since=since, stop_when=lambda rs: set(ours(rs)) >= ids
    )
    return [
        Envelope.from_bytes(r.value).open_as(ClientRegistered).client_id
        for r in records
        if r.key and r.key.decode() in ids
    ]


async def _outbox_empty(db: Any) -> bool:
    return await db[OUTBOX].count_documents({}) == 0


class _Acked:
    """A publisher that acknowledges at once (or fails the sends of ``failing`` event ids),
    recording the event ids it was given in order: the store side of the relay alone."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.sent: list[str] = []

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Any:
        event_id = str(Envelope.from_bytes(value).event_id)
        self.sent.append(event_id)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if event_id in self.failing:
            future.set_exception(RuntimeError("broker refused"))
        else:
            future.set_result(None)
        return future


async def _pending_ids(db: Any) -> list[str]:
    return [d["event_id"] async for d in db[OUTBOX].find({}).sort("_id", 1)]


async def test_a_state_change_and_its_events_are_stored_together_or_not_at_all(
    mongo_db: Any, monkeypatch: Any
) -> None:
    things = _things(mongo_db)
    first = client_registered("atomic")
    await things.insert({"_id": first.client_id, "name": "a"}, [first])
    assert len(await _pending_ids(mongo_db)) == 1

    async def broken_add(self: Outbox, session: Any, entries: Any) -> None:
        raise RuntimeError("the outbox insert failed")

    monkeypatch.setattr(Outbox, "add", broken_add)
    with pytest.raises(RuntimeError, match="outbox insert failed"):
        await things.update(first.client_id, {"$set": {"name": "b"}}, [client_registered("x")])
    stored = await mongo_db["things"].find_one({"_id": first.client_id})
    assert (stored["name"], stored["version"]) == ("a", 1)  # the update was rolled back
    assert len(await _pending_ids(mongo_db)) == 1


async def test_an_update_with_a_stale_version_is_refused_and_stores_no_event(
    mongo_db: Any,
) -> None:
    things = _things(mongo_db)
    first = client_registered("versioned")
    await things.insert({"_id": first.client_id, "name": "a"}, [first])
    updated = await things.update(
        first.client_id, {"$set": {"name": "b"}}, [client_registered("second")], expected_version=1
    )
    assert updated["version"] == 2
    with pytest.raises(VersionConflict):
        await things.update(
            first.client_id,
            {"$set": {"name": "c"}},
            [client_registered("third")],
            expected_version=1,
        )
    stored = await mongo_db["things"].find_one({"_id": first.client_id})
    assert (stored["name"], stored["version"]) == ("b", 2)
    assert len(await _pending_ids(mongo_db)) == 2
    assert OUTBOX not in stored  # events never live in the document


async def test_writes_made_while_the_relay_is_stopped_are_published_exactly_once_when_it_starts(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    things = _things(mongo_db)
    events = [client_registered(f"stopped-relay {i}") for i in range(250)]
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    for event in events:
        await things.insert({"_id": event.client_id}, [event])
    assert len(await _pending_ids(mongo_db)) == 250

    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    relay = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test", batch_size=100)
    relay.start()
    try:
        await eventually(lambda: _outbox_empty(mongo_db), what="the outbox emptied", within=30)
    finally:
        await relay.stop()
        await broker.stop()
    published = await _published(stack, since, {e.client_id for e in events})
    assert sorted(published) == sorted(e.client_id for e in events)


class _CountingDrains(OutboxRelay):
    drains = 0

    async def drain(self) -> set[Any]:
        self.drains += 1
        return await super().drain()


async def test_a_write_reaches_the_running_relay_through_the_change_stream_without_a_scan(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    # A stream read that waits 10 s for news: an event published within 5 s was sent as soon as
    # it arrived, not after a read that came back empty.
    relay = _CountingDrains(
        mongo_db, BrokerPublisher(broker), service="kit-test", lease_s=60, stream_wait_s=10
    )
    relay.start()
    try:
        await eventually(lambda: relay.holding and relay.drains == 1, what="relay serving")
        since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
        events = [client_registered(f"streamed {i}") for i in range(5)]
        for event in events:
            await _things(mongo_db).insert({"_id": event.client_id}, [event])
        await eventually(lambda: _outbox_empty(mongo_db), what="the outbox emptied", within=5)
        assert relay.drains == 1  # the stream brought them; the collection was read once, at start
    finally:
        await relay.stop()
        await broker.stop()
    assert sorted(await _published(stack, since, {e.client_id for e in events})) == sorted(
        e.client_id for e in events
    )


async def test_one_aggregates_events_go_out_in_the_order_written_keyed_by_its_id(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    things = _things(mongo_db)
    first = client_registered("in order")
    later = [first.model_copy(update={"name": f"in order {i}", "version": i}) for i in (2, 3, 4)]
    await things.insert({"_id": first.client_id}, [first, later[0]])
    await things.update(first.client_id, {"$set": {"step": 2}}, [later[1]])
    await things.update(first.client_id, {"$set": {"step": 3}}, [later[2]])
    written = await _pending_ids(mongo_db)
    assert len(written) == 4

    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        relay = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test")
        assert await relay.acquire()
        assert len(await relay.drain()) == 4
    finally:
        await broker.stop()

    key = first.client_id.encode()
    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        stop_when=lambda rs: sum(r.key == key for r in rs) >= 4,
    )
    ours = [r for r in records if r.key == key]
    assert [str(Envelope.from_bytes(r.value).event_id) for r in ours] == written
    assert {r.partition for r in ours} == {ours[0].partition}  # one key, one partition


async def test_a_failed_publish_deletes_nothing_of_its_batch_and_the_next_pass_sends_it_again(
    mongo_db: Any,
) -> None:
    things = _things(mongo_db)
    first = client_registered("first")
    events = [first, *(first.model_copy(update={"version": v}) for v in (2, 3))]
    await things.insert({"_id": first.client_id}, events)
    ids = await _pending_ids(mongo_db)

    failing = _Acked(failing={ids[1]})
    relay = OutboxRelay(mongo_db, failing, service="kit-test")
    assert await relay.acquire()
    with pytest.raises(RuntimeError, match="broker refused"):
        await relay.drain()
    assert await _pending_ids(mongo_db) == ids
    await relay.release()

    healthy = _Acked()
    assert len(await OutboxRelay(mongo_db, healthy, service="kit-test").drain()) == 3
    assert healthy.sent == ids
    assert await _pending_ids(mongo_db) == []


async def test_after_a_crash_between_publishing_and_deleting_the_events_are_published_again(
    stack: StackEndpoints, mongo_db: Any, monkeypatch: Any
) -> None:
    from pymongo.asynchronous.collection import AsyncCollection

    things = _things(mongo_db)
    events = [client_registered(f"crash {i}") for i in range(3)]
    for event in events:
        await things.insert({"_id": event.client_id}, [event])
    real_delete_many = AsyncCollection.delete_many

    async def crash(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process died before deleting what it published")

    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        monkeypatch.setattr(AsyncCollection, "delete_many", crash)
        crashed = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test", lease_s=0.01)
        with pytest.raises(RuntimeError, match="died before deleting"):
            await crashed.drain()
        assert len(await _pending_ids(mongo_db)) == 3
        monkeypatch.setattr(AsyncCollection, "delete_many", real_delete_many)

        restarted = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test")
        # The crashed one renewed its lease while publishing; it runs out 10 ms after that.
        await eventually(restarted.acquire, what="the crashed relay's lease ran out", within=5)
        assert len(await restarted.drain()) == 3
        assert await _outbox_empty(mongo_db)
    finally:
        await broker.stop()

    ids = {e.client_id for e in events}

    def twice_each(records: list[Any]) -> bool:
        keys = [r.key.decode() for r in records if r.key and r.key.decode() in ids]
        return all(keys.count(i) >= 2 for i in ids)

    records = await read_topic(stack.kafka_bootstrap, CONTACTS, since=since, stop_when=twice_each)
    published = sorted(r.key.decode() for r in records if r.key and r.key.decode() in ids)
    assert published == sorted([*ids, *ids])  # at-least-once: each exactly twice, none lost


async def test_one_relay_per_database_publishes_and_another_takes_over_when_it_stops(
    mongo_db: Any,
) -> None:
    first, second = _Acked(), _Acked()
    one = OutboxRelay(mongo_db, first, service="kit-test", lease_s=1.0)
    other = OutboxRelay(mongo_db, second, service="kit-test", lease_s=1.0)
    one.start()
    await eventually(lambda: one.holding, what="the first relay holds the lease")
    other.start()
    try:
        things = _things(mongo_db)
        event = client_registered("only once")
        await things.insert({"_id": event.client_id}, [event])
        await eventually(lambda: _outbox_empty(mongo_db), what="published")
        assert not other.holding
        assert (len(first.sent), second.sent) == (1, [])

        await one.stop()  # gives the lease up: the other takes over within its retry period
        assert await mongo_db[LEASES].count_documents({"owner": one.owner}) == 0
        await eventually(lambda: other.holding, what="the second relay took over", within=10)
        later = client_registered("after the hand-over")
        await things.insert({"_id": later.client_id}, [later])
        await eventually(lambda: _outbox_empty(mongo_db), what="published by the second")
        assert (len(first.sent), len(second.sent)) == (1, 1)
    finally:
        await one.stop()
        await other.stop()


async def test_a_lease_left_by_a_dead_relay_is_taken_once_it_has_run_out(mongo_db: Any) -> None:
    from datetime import UTC, datetime, timedelta

    dead = OutboxRelay(mongo_db, _Acked(), service="kit-test", lease_s=60)
    assert await dead.acquire()  # and then the process "dies": never renewed, never released
    heir = OutboxRelay(mongo_db, _Acked(), service="kit-test", lease_s=60)
    assert not await heir.acquire()
    # Time passes: the lease's expiry is now behind us.
    past = datetime.now(UTC) - timedelta(seconds=1)
    await mongo_db[LEASES].update_one({"owner": dead.owner}, {"$set": {"until": past}})
    assert await heir.acquire()
    assert not await dead.acquire()


async def test_the_published_counter_follows_what_the_relay_sent(mongo_db: Any) -> None:
    import uuid

    from prometheus_client import REGISTRY

    service = f"kit-metrics-{uuid.uuid4().hex[:8]}"
    things = _things(mongo_db)
    for i in range(3):
        event = client_registered(f"counted {i}")
        await things.insert(
            {"_id": event.client_id}, [event, event.model_copy(update={"version": 2})]
        )

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"service": service, **labels})

    relay = OutboxRelay(mongo_db, _Acked(), service=service)
    assert await relay.acquire()
    assert len(await relay.drain()) == 6
    assert sample("crm_events_published_total", topic=CONTACTS) == 6.0
    assert len(await relay.drain()) == 0
    assert sample("crm_outbox_backlog_documents") == 0.0
    assert sample("crm_events_published_total", topic=CONTACTS) == 6.0
