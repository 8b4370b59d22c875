"""Nothing too big stalls the kit's messaging, on the real store (and broker where it answers).

- An event too large for the broker is refused at the write, inside its transaction: 413, and
  nothing of the write is stored.
- A dead letter the broker refuses for good goes again without its body, and if even that is
  refused it is kept in the store: the batch is never rewound for ever. A broker that is away
  still rewinds it.
- The relay sets aside an outbox document the broker refuses for good (refused by the producer
  for its size, or by the broker for the topic's own limit) and publishes the next ones.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from crm_contracts.contacts import ClientRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.consumer import (
    DEAD_LETTERS_UNPUBLISHED,
    IdempotentConsumer,
    Outcome,
    RecordInfo,
)
from crm_kit.dead_letters import DLQ_SOURCE_OFFSET, DLQ_TRUNCATED
from crm_kit.outbox import OUTBOX, Outbox, OutboxCollection, outbox_entry
from crm_kit.problems import EventTooLarge
from crm_kit.records import DEFAULT_EVENT_MAX_BYTES
from crm_kit.relay import OUTBOX_FAILED, OutboxRelay
from crm_kit.runtime import BrokerPublisher
from crm_kit.testing import (
    FreshTopics,
    StackEndpoints,
    client_registered,
    end_offsets,
    read_topic,
    stack_kafka_broker,
    stack_kafka_options,
)

pytestmark = pytest.mark.integration

BIG = "x" * 1_200_000


def _things(db: Any) -> OutboxCollection:
    return OutboxCollection(db["things"], Outbox(db, producer="kit-test"))


# -- the write -----------------------------------------------------------------------------------


async def test_an_event_too_large_for_the_broker_is_refused_and_its_new_document_not_stored(
    mongo_db: Any,
) -> None:
    event = client_registered(BIG)
    with pytest.raises(EventTooLarge) as refused:
        await _things(mongo_db).insert({"_id": event.client_id, "name": BIG}, [event])
    assert refused.value.status == 413
    assert refused.value.extra["event_type"] == "ClientRegistered"
    assert refused.value.extra["size"] > DEFAULT_EVENT_MAX_BYTES
    assert refused.value.extra["max_bytes"] == DEFAULT_EVENT_MAX_BYTES
    assert await mongo_db["things"].count_documents({}) == 0
    assert await mongo_db[OUTBOX].count_documents({}) == 0


async def test_an_update_whose_event_is_too_large_leaves_the_document_as_it_was(
    mongo_db: Any,
) -> None:
    things = _things(mongo_db)
    event = client_registered("small")
    await things.insert({"_id": event.client_id, "name": "small"}, [event])
    await mongo_db[OUTBOX].delete_many({})
    with pytest.raises(EventTooLarge):
        await things.update(
            event.client_id, {"$set": {"name": BIG}}, [client_registered(BIG)], expected_version=1
        )
    stored = await mongo_db["things"].find_one({"_id": event.client_id})
    assert (stored["name"], stored["version"]) == ("small", 1)
    assert await mongo_db[OUTBOX].count_documents({}) == 0


async def test_a_bulk_write_with_one_event_too_large_stores_none_of_the_batch(
    mongo_db: Any,
) -> None:
    outbox = Outbox(mongo_db, producer="kit-test")

    async def work(session: Any) -> None:
        await mongo_db["things"].insert_many([{"n": 1}, {"n": 2}], session=session)
        await outbox.add(
            session, outbox.entries([client_registered("fine"), client_registered(BIG)])
        )

    with pytest.raises(EventTooLarge):
        await outbox.transaction(work)
    assert await mongo_db["things"].count_documents({}) == 0
    assert await mongo_db[OUTBOX].count_documents({}) == 0


# -- the dead-letter publish ---------------------------------------------------------------------


class _RefusingPublisher:
    """A fake broker for dead letters: refuses the first ``refusals`` sends with ``error``
    (raised at send, as the producer's own size check does), then acknowledges, recording
    what it acknowledged."""

    def __init__(self, error: Exception, refusals: int) -> None:
        self.error = error
        self.refusals = refusals
        self.accepted: list[tuple[str, bytes, bytes, dict[str, str]]] = []

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Any:
        if self.refusals > 0:
            self.refusals -= 1
            raise self.error
        self.accepted.append((topic, key, value, dict(headers or {})))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _consumer(db: Any, publisher: _RefusingPublisher) -> IdempotentConsumer:
    async def handle(event: Any, envelope: Envelope) -> None:
        return None

    return IdempotentConsumer(
        db=db,
        dead_letters=publisher,
        service="kittest",
        group=f"group-{uuid.uuid4().hex[:8]}",
        handlers={ClientRegistered.event_type: handle},
    )


RECORD = RecordInfo(CONTACTS, 2, 77, b"key-1", 1_765_000_000_000, (("trace", b"t-1"),))


async def test_a_dead_letter_refused_as_too_large_goes_again_without_its_body(
    mongo_db: Any,
) -> None:
    publisher = _RefusingPublisher(MessageSizeTooLargeError(), refusals=1)
    outcomes = await _consumer(mongo_db, publisher).process_batch([(b"not json {", RECORD)])
    assert outcomes == [Outcome.DEAD_LETTERED]
    [(_topic, key, value, headers)] = publisher.accepted
    assert (key, value, headers[DLQ_TRUNCATED], headers[DLQ_SOURCE_OFFSET]) == (
        b"key-1",
        b"",
        "true",
        "77",
    )
    assert "trace" not in headers


async def test_a_dead_letter_refused_for_good_is_kept_in_the_store_and_the_batch_goes_on(
    mongo_db: Any,
) -> None:
    publisher = _RefusingPublisher(TopicAuthorizationFailedError(), refusals=2)
    consumer = _consumer(mongo_db, publisher)
    outcomes = await consumer.process_batch([(b"not json {", RECORD)])
    assert outcomes == [Outcome.DEAD_LETTERED]
    assert publisher.accepted == []
    [kept] = await mongo_db[DEAD_LETTERS_UNPUBLISHED].find({}).to_list()
    assert kept["topic"] == f"{CONTACTS}.dlq.{consumer.group}"
    assert kept["headers"][DLQ_SOURCE_OFFSET] == "77"
    assert "TopicAuthorizationFailedError" in kept["error"]


async def test_a_dead_letter_publish_that_meets_a_broker_away_rewinds_the_batch(
    mongo_db: Any,
) -> None:
    publisher = _RefusingPublisher(KafkaConnectionError(), refusals=1)
    with pytest.raises(KafkaConnectionError):
        await _consumer(mongo_db, publisher).process_batch([(b"not json {", RECORD)])
    assert await mongo_db[DEAD_LETTERS_UNPUBLISHED].count_documents({}) == 0


# -- the relay -----------------------------------------------------------------------------------


def _entry(topic: str, name: str, key: str) -> dict[str, Any]:
    event = client_registered(name).model_copy(update={"client_id": key})
    return {**outbox_entry(event, producer="kit-test"), "topic": topic}


async def _values_published(
    stack: StackEndpoints, topic: str, since: dict[int, int] | None, key: str, count: int
) -> list[str]:
    records = await read_topic(
        stack.kafka_bootstrap,
        topic,
        since=since,
        stop_when=lambda rs: sum(r.key == key.encode() for r in rs) >= count,
        until_idle=1.0,
        within=30,
    )
    return [
        Envelope.from_bytes(r.value).open_as(ClientRegistered).name
        for r in records
        if r.key == key.encode()
    ]


async def test_a_stored_event_the_producer_refuses_is_set_aside_and_the_next_one_published(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    # As an event stored before the write refused large ones would be.
    key = str(uuid.uuid4())
    big = _entry(CONTACTS, BIG, key)
    after = _entry(CONTACTS, "the next one", key)
    await mongo_db[OUTBOX].insert_many([big, after])
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)

    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        relay = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test")
        assert await relay.acquire()
        await relay.drain()
    finally:
        await broker.stop()

    assert await mongo_db[OUTBOX].count_documents({}) == 0
    [failed] = await mongo_db[OUTBOX_FAILED].find({}).to_list()
    assert (failed["_id"], failed["event_id"]) == (big["_id"], big["event_id"])
    assert failed["error_type"] == "MessageSizeTooLargeError"
    assert failed["failed_at"] is not None
    assert await _values_published(stack, CONTACTS, since, key, 1) == ["the next one"]


async def test_an_event_over_the_topics_own_limit_is_set_aside_and_the_others_keep_their_order(
    stack: StackEndpoints, mongo_db: Any, fresh_topics: FreshTopics
) -> None:
    # The broker, not the producer, refuses it: the topic takes at most 4 KiB per batch.
    topic = fresh_topics.name("test.small-records")
    admin = AIOKafkaAdminClient(**stack_kafka_options(stack.kafka_bootstrap))
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, 1, 1, topic_configs={"max.message.bytes": "4096"})]
        )
    finally:
        await admin.close()
    key = str(uuid.uuid4())
    entries = [
        _entry(topic, "first", key),
        _entry(topic, "y" * 10_000, key),
        _entry(topic, "second", key),
    ]
    await mongo_db[OUTBOX].insert_many(entries)

    broker = stack_kafka_broker(stack.kafka_bootstrap, acks="all", enable_idempotence=True)
    await broker.start()
    try:
        relay = OutboxRelay(mongo_db, BrokerPublisher(broker), service="kit-test")
        assert await relay.acquire()
        await relay.drain()
    finally:
        await broker.stop()

    assert await mongo_db[OUTBOX].count_documents({}) == 0
    failed = await mongo_db[OUTBOX_FAILED].find({}).to_list()
    assert [f["_id"] for f in failed] == [entries[1]["_id"]]
    assert await _values_published(stack, topic, None, key, 2) == ["first", "second"]
