"""Rebuild a service's projections by replaying its topics from the start.

The service's own subscription handlers are run, in a scratch database, over every record now on
the topics it reads. The rebuilt collections are then compared with the live ones by a content
hash; with ``apply`` the live collections are replaced by the rebuilt ones (do that with the
service stopped: the copy is not atomic).

The scratch database starts as a copy of the live one's other collections (clients, events,
participants, notifications…), without the projections, which start empty, and without the
outbox and the relay's and consumer's bookkeeping. A handler that looks something up (the
timeline files a fact under the client's survivor after a merge) finds what the live handler
finds now; a handler that reacts (moves a participant, counts a contact, queues a notification)
meets the state its earlier run left, as on a redelivery. Nothing the replay does leaves the
scratch database:

- the events handlers write go to the scratch outbox, which no relay reads: the relay handed to
  the handlers is never started and its publisher refuses to send (the report counts the
  entries held back);
- the broker handed to the handlers is never started, so no handler can publish;
- the service's workers (notify's delivery, campaigns' invitation runs) are not run: a
  notification queued in the scratch database is never sent;
- no handler calls another service: they read and write the store only.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from bson import json_util
from crm_contracts.envelope import Envelope
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.app import ServiceSpec
from crm_kit.consumer import DEAD_LETTERS_UNPUBLISHED, PROCESSED
from crm_kit.kafka import KafkaAccess, broker_options, client_options
from crm_kit.outbox import OUTBOX, Document, Outbox
from crm_kit.relay import LEASES, OUTBOX_FAILED, OutboxRelay
from crm_kit.runtime import Runtime
from crm_kit.sealing import Sealer, sealer_of
from crm_kit.settings import ServiceSettings


@dataclass
class CollectionReport:
    name: str
    live_count: int
    rebuilt_count: int
    live_hash: str
    rebuilt_hash: str

    @property
    def equal(self) -> bool:
        return self.live_hash == self.rebuilt_hash


@dataclass
class RebuildReport:
    service: str
    records_read: int = 0
    events_applied: int = 0
    failures: list[str] = field(default_factory=list)
    collections: list[CollectionReport] = field(default_factory=list)
    applied: bool = False
    scratch: str = ""
    """The scratch database's name (kept after the rebuild only with ``keep_scratch``)."""
    copied: list[str] = field(default_factory=list)
    """The live collections copied into the scratch database for the handlers to read."""
    held_back: int = 0
    """Events the handlers wrote to the scratch outbox during the replay: never sent."""

    @property
    def equal(self) -> bool:
        return all(c.equal for c in self.collections)


async def content_hash(db: AsyncDatabase[Document], collection: str) -> tuple[int, str]:
    """Count and SHA-256 of a collection's documents in ``_id`` order."""
    digest = hashlib.sha256()
    count = 0
    async for doc in db[collection].find({}).sort("_id", 1):
        digest.update(json_util.dumps(doc, sort_keys=True).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


NOT_COPIED = frozenset({OUTBOX, LEASES, OUTBOX_FAILED, PROCESSED, DEAD_LETTERS_UNPUBLISHED})
"""The outbox and the relay's and consumer's bookkeeping: the scratch outbox starts empty, so
what it holds after the replay is exactly what the handlers wrote (and did not send)."""


class RefusingPublisher:
    """The scratch runtime's way to Kafka: none. A rebuild publishes nothing."""

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Any:
        raise RuntimeError(f"a rebuild publishes nothing (refused a record for {topic})")


async def _copy_the_rest(
    live: AsyncDatabase[Document],
    scratch: AsyncDatabase[Document],
    projections: Sequence[str],
    report: RebuildReport,
) -> None:
    """Copy (server-side) every live collection but the projections and ``NOT_COPIED``."""
    found = await live.list_collections(filter={"type": "collection"})
    for name in sorted([c["name"] async for c in found]):
        if name in projections or name in NOT_COPIED or name.startswith("system."):
            continue
        pipeline: list[dict[str, Any]] = [
            {"$match": {}},
            {"$out": {"db": scratch.name, "coll": name}},
        ]
        cursor = await live[name].aggregate(pipeline)
        await cursor.to_list()
        report.copied.append(name)


async def _topic_partitions(access: KafkaAccess, topics: Sequence[str]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(**client_options(access))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [
        TopicPartition(t["topic"], p["partition"])
        for t in described
        if not t.get("error_code")
        for p in t["partitions"]
    ]


async def rebuild(
    spec: ServiceSpec,
    settings: ServiceSettings,
    *,
    apply: bool = False,
    keep_scratch: bool = False,
) -> RebuildReport:
    report = RebuildReport(spec.name)
    client: AsyncMongoClient[Document] = AsyncMongoClient(
        settings.mongo_uri, tz_aware=True, uuidRepresentation="standard"
    )
    live = client[settings.mongo_database]
    scratch_name = f"{settings.mongo_database}_rebuild_{secrets.token_hex(4)}"
    scratch = client[scratch_name]
    report.scratch = scratch_name
    access = KafkaAccess.from_settings(settings)
    broker = KafkaBroker(**broker_options(access))  # never started: handlers write, never send
    relay = OutboxRelay(scratch, RefusingPublisher(), service=spec.name)  # never started either
    # Replayed events are unsealed like live ones: an erased person's read as erased.
    sealer, vault_client = sealer_of(settings, client)
    runtime = Runtime(
        settings, client, scratch, broker, relay, Outbox(scratch, producer=spec.name), sealer
    )
    try:
        await _copy_the_rest(live, scratch, spec.projections, report)
        if spec.indexes is not None:
            await spec.indexes(scratch)
        for sub in spec.subscriptions:
            handlers = {
                cls.event_type: functools.partial(handler, runtime)
                for cls, handler in sub.handlers.items()
            }
            await _replay(access, sub.topics, handlers, report, sealer)
        report.held_back = await scratch[OUTBOX].count_documents({})
        for name in spec.projections:
            live_count, live_hash = await content_hash(live, name)
            rebuilt_count, rebuilt_hash = await content_hash(scratch, name)
            report.collections.append(
                CollectionReport(name, live_count, rebuilt_count, live_hash, rebuilt_hash)
            )
        if apply:
            for name in spec.projections:
                await live[name].delete_many({})
                batch: list[Document] = []
                async for doc in scratch[name].find({}):
                    batch.append(doc)
                    if len(batch) >= 1000:
                        await live[name].insert_many(batch)
                        batch = []
                if batch:
                    await live[name].insert_many(batch)
            report.applied = True
    finally:
        if not keep_scratch:
            await client.drop_database(scratch_name)
        if vault_client is not client:
            await vault_client.close()
        await client.close()
    return report


async def _replay(
    access: KafkaAccess,
    topics: Sequence[str],
    handlers: dict[str, Any],
    report: RebuildReport,
    sealer: Sealer,
) -> None:
    tps = await _topic_partitions(access, topics)
    if not tps:
        return
    consumer = AIOKafkaConsumer(**client_options(access), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if await consumer.position(tp) < ends[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=1000, max_records=2000)
            for tp, records in batch.items():
                read = [r.value for r in records if r.offset < ends[tp]]
                report.records_read += len(read)
                envelopes = [e for e in map(_envelope, read) if e is not None]
                # The keys of the records' personal fields, with one vault read per poll.
                keys = await sealer.keys_of(e for e in envelopes if e.event_type in handlers)
                for envelope in envelopes:
                    await _apply(envelope, handlers, report, sealer, keys)
            remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
    finally:
        await consumer.stop()


def _envelope(raw: bytes | None) -> Envelope | None:
    try:
        return Envelope.from_bytes(raw or b"")
    except Exception:
        return None  # the live consumer dead-lettered it too


async def _apply(
    envelope: Envelope,
    handlers: dict[str, Any],
    report: RebuildReport,
    sealer: Sealer,
    keys: Mapping[str, bytes | None],
) -> None:
    handler = handlers.get(envelope.event_type)
    if handler is None:
        return
    try:
        envelope = await sealer.unseal(envelope, keys)
        await handler(envelope.open(), envelope)
        report.events_applied += 1
    except Exception as exc:
        report.failures.append(f"{envelope.event_type} {envelope.event_id}: {exc}")


__all__ = [
    "NOT_COPIED",
    "CollectionReport",
    "RebuildReport",
    "RefusingPublisher",
    "content_hash",
    "rebuild",
]
