"""Topics, consumer-group lag and dead letters, read straight from the broker."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from crm_contracts.envelope import Envelope
from crm_kit.consumer import headers_of
from crm_kit.dead_letters import (
    DLQ_AT,
    DLQ_ATTEMPTS,
    DLQ_ERROR,
    DLQ_GROUP,
    DLQ_ORIGINAL_SIZE,
    DLQ_SOURCE_OFFSET,
    DLQ_SOURCE_PARTITION,
    DLQ_SOURCE_TOPIC,
    DLQ_TRUNCATED,
)
from crm_kit.kafka import REPLAY_GROUP_PREFIX, KafkaAccess, client_options
from crm_kit.logs import KAFKA_CORRELATION_HEADER

DLQ_MARK = ".dlq."
OPS_ENV_PREFIX = "CRM_OPS_KAFKA_"
"""The ops CLI's own Kafka user (``crm-ops``, see ``crm_kit.kafka.operator_acls``), when set;
otherwise ``CRM_KAFKA_*``."""


def options(bootstrap: str) -> dict[str, Any]:
    """aiokafka options for ``bootstrap`` with the operator's credentials from the environment."""
    access = KafkaAccess.from_env(bootstrap=bootstrap, prefixes=(OPS_ENV_PREFIX, "CRM_KAFKA_"))
    return client_options(access)


@asynccontextmanager
async def admin(bootstrap: str) -> AsyncIterator[AIOKafkaAdminClient]:
    client = AIOKafkaAdminClient(**options(bootstrap))
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@asynccontextmanager
async def consumer(bootstrap: str, group: str | None = None) -> AsyncIterator[AIOKafkaConsumer]:
    c = AIOKafkaConsumer(
        **options(bootstrap),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def partitions(bootstrap: str, topic: str) -> list[TopicPartition]:
    async with admin(bootstrap) as a:
        described = await a.describe_topics([topic])
    return [
        TopicPartition(topic, p["partition"])
        for t in described
        if t.get("topic") == topic and not t.get("error_code")
        for p in t["partitions"]
    ]


@dataclass(frozen=True)
class TopicInfo:
    name: str
    partitions: int
    messages: int  # end offsets minus start offsets: what the topic holds now


DESCRIBE_CHUNK = 200
"""Topics described per admin request (a broker with thousands of topics answers in chunks)."""


async def topics(bootstrap: str, prefix: str = "") -> list[TopicInfo]:
    """Every topic (internal ones left out; only those starting with ``prefix`` when given)
    with its partitions and the messages it holds: one admin connection and one offsets request
    per chunk of topics. Offsets take the broker about 20 ms per partition it has to look up,
    so on a broker holding thousands of topics a prefix is the quick way."""
    by_topic: dict[str, list[TopicPartition]] = {}
    async with admin(bootstrap) as a:
        names = sorted(
            n for n in await a.list_topics() if not n.startswith("__") and n.startswith(prefix)
        )
        for start in range(0, len(names), DESCRIBE_CHUNK):
            for t in await a.describe_topics(names[start : start + DESCRIBE_CHUNK]):
                if t.get("error_code"):
                    continue
                by_topic[str(t["topic"])] = [
                    TopicPartition(str(t["topic"]), p["partition"]) for p in t["partitions"]
                ]
    infos = []
    async with consumer(bootstrap) as c:
        for start in range(0, len(names), DESCRIBE_CHUNK):
            chunk = names[start : start + DESCRIBE_CHUNK]
            tps = [tp for name in chunk for tp in by_topic.get(name, [])]
            ends = await c.end_offsets(tps) if tps else {}
            starts = await c.beginning_offsets(tps) if tps else {}
            for name in chunk:
                own = by_topic.get(name, [])
                infos.append(TopicInfo(name, len(own), sum(ends[tp] - starts[tp] for tp in own)))
    return infos


@dataclass(frozen=True)
class Lag:
    group: str
    topic: str
    partition: int
    committed: int | None
    end: int

    @property
    def lag(self) -> int:
        return self.end - (self.committed or 0)


async def groups(bootstrap: str) -> list[str]:
    async with admin(bootstrap) as a:
        listed = await a.list_consumer_groups()
    return sorted(str(g[0]) for g in listed)


async def lag(bootstrap: str, group: str) -> list[Lag]:
    async with admin(bootstrap) as a:
        committed = await a.list_consumer_group_offsets(group)
    if not committed:
        return []
    async with consumer(bootstrap) as c:
        ends = await c.end_offsets(list(committed))
    return sorted(
        (
            Lag(group, tp.topic, tp.partition, meta.offset if meta.offset >= 0 else None, ends[tp])
            for tp, meta in committed.items()
        ),
        key=lambda item: (item.topic, item.partition),
    )


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]

    @property
    def source_topic(self) -> str:
        return self.headers.get(DLQ_SOURCE_TOPIC) or self.topic.split(DLQ_MARK)[0]

    @property
    def truncated(self) -> bool:
        """Only the start of the original body was kept: it cannot be replayed."""
        return self.headers.get(DLQ_TRUNCATED) == "true"

    def describe(self) -> dict[str, Any]:
        if self.truncated:
            size = self.headers.get(DLQ_ORIGINAL_SIZE, "?")
            what = f"truncated to {len(self.value)} of {size} bytes (not replayable)"
        else:
            try:
                envelope = Envelope.from_bytes(self.value)
                what = f"{envelope.event_type} {envelope.event_id}"
            except Exception:
                what = f"unparseable ({len(self.value)} bytes)"
        return {
            "dead_letter": f"{self.topic}[{self.partition}]@{self.offset}",
            "source": f"{self.source_topic}[{self.headers.get(DLQ_SOURCE_PARTITION)}]"
            f"@{self.headers.get(DLQ_SOURCE_OFFSET)}",
            "group": self.headers.get(DLQ_GROUP),
            "message": what,
            "attempts": self.headers.get(DLQ_ATTEMPTS),
            "at": self.headers.get(DLQ_AT),
            "error": self.headers.get(DLQ_ERROR),
        }


async def dead_letter_topics(bootstrap: str) -> list[str]:
    async with admin(bootstrap) as a:
        return sorted(n for n in await a.list_topics() if DLQ_MARK in n)


async def _read(c: AIOKafkaConsumer, tps: list[TopicPartition]) -> list[DeadLetter]:
    ends = await c.end_offsets(tps)
    letters: list[DeadLetter] = []
    remaining = {tp for tp in tps if await c.position(tp) < ends[tp]}
    while remaining:
        batch = await c.getmany(*remaining, timeout_ms=1000)
        for tp, records in batch.items():
            for r in records:
                if r.offset < ends[tp]:
                    letters.append(
                        DeadLetter(
                            r.topic, r.partition, r.offset, r.key, r.value, headers_of(r.headers)
                        )
                    )
        remaining = {tp for tp in remaining if await c.position(tp) < ends[tp]}
    return letters


async def list_dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    tps = await partitions(bootstrap, topic)
    async with consumer(bootstrap) as c:
        c.assign(tps)
        await c.seek_to_beginning(*tps)
        return await _read(c, tps)


def replay_group(topic: str) -> str:
    return f"{REPLAY_GROUP_PREFIX}.{topic}"


@dataclass(frozen=True)
class Replay:
    replayed: list[DeadLetter]
    refused: list[DeadLetter]
    """Truncated letters: their body is cut, so republishing would send a broken record."""


async def replay(bootstrap: str, topic: str, *, dry_run: bool = False) -> list[DeadLetter]:
    """The letters :func:`replay_all` republished (or would, with ``dry_run``)."""
    return (await replay_all(bootstrap, topic, dry_run=dry_run)).replayed


async def replay_all(bootstrap: str, topic: str, *, dry_run: bool = False) -> Replay:
    """Publish every dead letter not replayed before back to its source topic, unchanged.

    A truncated letter (``x-dlq-truncated: true``: its record was larger than an event may be)
    is refused, never republished: only the start of its body was kept. It is reported, and
    the replay's progress moves past it like past the others.

    Progress is kept as the offsets of a consumer group of this tool's own, committed after the
    republish was acknowledged, so a second replay does not send the same letters again.
    """
    tps = await partitions(bootstrap, topic)
    async with consumer(bootstrap, replay_group(topic)) as c:
        c.assign(tps)
        for tp in tps:
            committed = await c.committed(tp)
            if committed is None:
                await c.seek_to_beginning(tp)
            else:
                c.seek(tp, committed)
        letters = await _read(c, tps)
        result = Replay(
            replayed=[letter for letter in letters if not letter.truncated],
            refused=[letter for letter in letters if letter.truncated],
        )
        if dry_run or not letters:
            return result
        producer = AIOKafkaProducer(**options(bootstrap), acks="all", enable_idempotence=True)
        await producer.start()
        try:
            for letter in result.replayed:
                await producer.send_and_wait(
                    letter.source_topic, letter.value, key=letter.key, headers=_replayed(letter)
                )
        finally:
            await producer.stop()
        await c.commit({tp: await c.position(tp) for tp in tps})
        return result


def _replayed(letter: DeadLetter) -> list[tuple[str, bytes]]:
    """The headers a replayed record goes with: its correlation id, as the original had it
    (the envelope's, when the letter kept no such header)."""
    value = letter.headers.get(KAFKA_CORRELATION_HEADER)
    if not value:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            value = json.loads(letter.value or b"{}").get("correlation_id")
    return [(KAFKA_CORRELATION_HEADER, str(value).encode())] if value else []
