"""The benches' raw Kafka baseline: aiokafka alone, nothing else, measured in the same run as
the service it is compared with.

The records go to a throw-away topic of the run (6 partitions, deleted afterwards) with acks=all
and a 5 ms linger, every send pipelined; a fresh consumer group, started before the first send,
reads them back from the earliest offset. A service's rate over this one is the figure the
benches compare between runs, since absolute rates depend on what else the machine is doing."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from crm_kit.testing import stack_kafka_options


@dataclass(frozen=True)
class Raw:
    produced: float
    """Seconds from the first send until every record was acknowledged."""
    consumed: float
    """Seconds from the first send until the fresh group had read every record back (0 when
    the run only produced)."""


async def raw_kafka(
    bootstrap: str,
    payloads: Sequence[bytes],
    *,
    name: str,
    keys: int | None = None,
    consume: bool = True,
    idempotent: bool = False,
) -> Raw:
    """Produce ``payloads`` in order to ``bench.<name>.raw.<random>`` and, with ``consume``,
    read them back. Record ``i`` has the key ``str(i % keys)`` (``str(i)`` without ``keys``);
    ``idempotent`` turns on the producer's idempotence."""
    run = uuid.uuid4().hex[:8]
    topic = f"bench.{name}.raw.{run}"
    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
        producer = AIOKafkaProducer(
            **stack_kafka_options(bootstrap), acks="all", enable_idempotence=idempotent, linger_ms=5
        )
        consumer = (
            AIOKafkaConsumer(
                topic,
                **stack_kafka_options(bootstrap),
                group_id=f"bench-{name}-raw-{run}",
                auto_offset_reset="earliest",
                enable_auto_commit=False,
            )
            if consume
            else None
        )
        await producer.start()
        try:
            if consumer is not None:
                await consumer.start()
            started = time.monotonic()
            sends = [
                await producer.send(topic, p, key=str(i % keys if keys else i).encode())
                for i, p in enumerate(payloads)
            ]
            await asyncio.gather(*sends)
            produced = time.monotonic() - started
            seen = 0
            while consumer is not None and seen < len(payloads):
                batch = await consumer.getmany(timeout_ms=500, max_records=1000)
                seen += sum(len(records) for records in batch.values())
            return Raw(produced, time.monotonic() - started if consumer is not None else 0.0)
        finally:
            if consumer is not None:
                await consumer.stop()
            await producer.stop()
    finally:
        with contextlib.suppress(Exception):
            await admin.delete_topics([topic])
        await admin.close()
