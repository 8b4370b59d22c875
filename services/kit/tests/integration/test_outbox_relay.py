"""The outbox relay on the real broker and store."""

from __future__ import annotations

from typing import Any

import pytest
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
        clock=lambda: 0.0,  # scans take no time here: only the back-off shows
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


async def test_a_slow_scan_is_not_repeated_before_its_share_of_time_allows(
    mongo_db: Any,
) -> None:
    ticks = iter([100.0, 102.0, 200.0, 200.5, 300.0, 300.0])  # each scan reads the clock twice
    relay = OutboxRelay(
        mongo_db,
        ["things"],
        _Acked(),
        service="kit-test",
        scan_interval=0.25,
        max_scan_interval=30.0,
        scan_share=0.1,
        clock=lambda: next(ticks),
    )
    assert relay.next_scan_in == 0.25
    await relay.scan()  # took 2 s: scans may take a tenth of the time, so 18 s until the next
    assert relay.next_scan_in == pytest.approx(18.0)
    await relay.scan()  # took 0.5 s: 4.5 s of cost, but the idle back-off (1 s) is shorter
    assert relay.next_scan_in == pytest.approx(4.5)
    await relay.scan()  # took nothing: back to the back-off, third idle scan in a row
    assert relay.next_scan_in == pytest.approx(2.0)

    with pytest.raises(ValueError, match="scan_share"):
        OutboxRelay(mongo_db, ["things"], _Acked(), service="kit-test", scan_share=0)


class _Acked:
    """A publisher that acknowledges at once (or fails the sends of ``failing`` event ids),
    recording the event ids it was given in order: the store side of the relay alone."""

    def __init__(self, failing: set[str] | None = None) -> None:
        self.failing = failing or set()
        self.sent: list[str] = []

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> Any:
        import asyncio

        event_id = str(Envelope.from_bytes(value).event_id)
        self.sent.append(event_id)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if event_id in self.failing:
            future.set_exception(RuntimeError("broker refused"))
        else:
            future.set_result(None)
        return future


def _ids(doc: dict[str, Any]) -> list[str]:
    return [entry["id"] for entry in doc["outbox"]]


async def test_one_documents_events_go_out_in_the_order_written_keyed_by_its_aggregate_id(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    first = client_registered("in order")
    later = [first.model_copy(update={"name": f"in order {i}", "version": i}) for i in (2, 3, 4)]
    await things.insert({"_id": first.client_id}, [first, later[0]])
    await things.update(first.client_id, {"$set": {"step": 2}}, [later[1]])
    stored = await things.update(first.client_id, {"$set": {"step": 3}}, [later[2]])
    written = _ids(stored)
    assert len(written) == 4

    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    broker = KafkaBroker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        relay = OutboxRelay(mongo_db, ["things"], BrokerPublisher(broker), service="kit-test")
        assert await relay.scan() == 4
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
    assert [Envelope.from_bytes(r.value).key for r in ours] == [first.client_id] * 4


async def test_an_event_appended_while_the_relay_publishes_is_not_removed_with_the_rest(
    mongo_db: Any,
) -> None:
    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    event = client_registered("published")
    late = event.model_copy(update={"name": "appended meanwhile", "version": 2})
    await things.insert({"_id": event.client_id}, [event])

    class WritingMeanwhile(_Acked):
        async def send(
            self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
        ) -> Any:
            if not self.sent:  # a concurrent request appends an event before the first ack
                await things.update(event.client_id, {"$set": {"name": "late"}}, [late])
            return await super().send(topic, key, value, headers)

    publisher = WritingMeanwhile()
    relay = OutboxRelay(mongo_db, ["things"], publisher, service="kit-test")
    assert await relay.scan() == 1
    stored = await mongo_db["things"].find_one({"_id": event.client_id})
    assert len(stored["outbox"]) == 1
    assert Envelope.from_bytes(stored["outbox"][0]["value"].encode()).open() == late

    assert await relay.scan() == 1
    stored = await mongo_db["things"].find_one({"_id": event.client_id})
    assert stored["outbox"] == []
    assert len(publisher.sent) == 2
    assert len(set(publisher.sent)) == 2


async def test_a_failed_publish_keeps_that_event_and_the_documents_later_ones_for_the_next_scan(
    mongo_db: Any,
) -> None:
    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    first = client_registered("first")
    events = [first, *(first.model_copy(update={"version": v}) for v in (2, 3))]
    stored = await things.insert({"_id": first.client_id}, events)
    ids = _ids(stored)

    failing = _Acked(failing={ids[1]})
    relay = OutboxRelay(mongo_db, ["things"], failing, service="kit-test")
    assert await relay.scan() == 1
    assert _ids(await mongo_db["things"].find_one({"_id": first.client_id})) == ids[1:]

    healthy = _Acked()
    assert await OutboxRelay(mongo_db, ["things"], healthy, service="kit-test").scan() == 2
    assert healthy.sent == ids[1:]
    assert _ids(await mongo_db["things"].find_one({"_id": first.client_id})) == []


async def test_after_a_crash_between_publishing_and_removing_the_events_are_published_again(
    stack: StackEndpoints, mongo_db: Any, monkeypatch: Any
) -> None:
    from pymongo.asynchronous.collection import AsyncCollection

    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    events = [client_registered(f"crash {i}") for i in range(3)]
    for event in events:
        await things.insert({"_id": event.client_id}, [event])

    real_bulk_write = AsyncCollection.bulk_write

    async def crash(self: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the process died before removing what it published")

    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    broker = KafkaBroker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        monkeypatch.setattr(AsyncCollection, "bulk_write", crash)
        crashed = OutboxRelay(mongo_db, ["things"], BrokerPublisher(broker), service="kit-test")
        with pytest.raises(RuntimeError, match="died before removing"):
            await crashed.scan()
        assert await mongo_db["things"].count_documents({"outbox.0": {"$exists": True}}) == 3
        monkeypatch.setattr(AsyncCollection, "bulk_write", real_bulk_write)

        restarted = OutboxRelay(mongo_db, ["things"], BrokerPublisher(broker), service="kit-test")
        assert await restarted.scan() == 3
        assert await mongo_db["things"].count_documents({"outbox.0": {"$exists": True}}) == 0
    finally:
        await broker.stop()

    ids = {e.client_id for e in events}

    def twice_each(records: list[Any]) -> bool:
        keys = [r.key.decode() for r in records if r.key and r.key.decode() in ids]
        return all(keys.count(i) >= 2 for i in ids)

    records = await read_topic(stack.kafka_bootstrap, CONTACTS, since=since, stop_when=twice_each)
    published = sorted(r.key.decode() for r in records if r.key and r.key.decode() in ids)
    assert published == sorted([*ids, *ids])  # at-least-once: each exactly twice, none lost


async def test_the_backlog_gauge_and_published_counter_follow_the_scans(mongo_db: Any) -> None:
    import uuid

    from prometheus_client import REGISTRY

    service = f"kit-metrics-{uuid.uuid4().hex[:8]}"
    things = OutboxCollection(mongo_db["things"], producer="kit-test")
    for i in range(3):
        event = client_registered(f"backlog {i}")
        await things.insert(
            {"_id": event.client_id}, [event, event.model_copy(update={"version": 2})]
        )

    def sample(name: str, **labels: str) -> float | None:
        return REGISTRY.get_sample_value(name, {"service": service, **labels})

    relay = OutboxRelay(mongo_db, ["things"], _Acked(), service=service)
    assert await relay.scan() == 6
    assert sample("crm_outbox_backlog_documents") == 3.0
    assert sample("crm_events_published_total", topic=CONTACTS) == 6.0
    assert await relay.scan() == 0
    assert sample("crm_outbox_backlog_documents") == 0.0
    assert sample("crm_events_published_total", topic=CONTACTS) == 6.0
