"""Projection catch-up: campaigns' effectiveness counters over N ContactRecorded already queued.

    eval "$(uv run crm-stack env)" && uv run python bench/projection_catchup.py [--count 10000]
        [--clients 500]

1. A campaigns instance (own database and consumer group) schedules one event, then stops;
   its group's offsets now stand at the topic's end.
2. N `ContactRecorded` events about that event are produced to the contacts topic, so they are
   already waiting when the service starts again.
3. Baseline, same run: raw aiokafka reads the same N records from the same offsets.
4. The campaigns instance starts again; the time until `/events/{id}/effectiveness` reports
   N contact records is its catch-up time.
Prints events per second for both and their ratio. Figures only, never part of pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from crm_kit.testing import stack_kafka_options
from pymongo import monitoring
from store_commands import Commands

COMMANDS = Commands()
monitoring.register(COMMANDS)


async def _produce(bootstrap: str, topic: str, eid: str, count: int, clients: int) -> None:
    from crm_contracts.contacts import ContactRecorded
    from crm_contracts.envelope import Envelope
    from crm_contracts.values import ContactDirection, ContactKind

    now = datetime.now(UTC)
    producer = AIOKafkaProducer(**stack_kafka_options(bootstrap), acks="all", linger_ms=5)
    await producer.start()
    try:
        futures = []
        for i in range(count):
            event = ContactRecorded(
                contact_id=f"bench-contact-{uuid.uuid4().hex}",
                client_id=f"bench-client-{i % clients}",
                employee_id="bench-employee",
                kind=ContactKind.EVENT_TALK,
                direction=ContactDirection(next(iter(ContactDirection)).value),
                occurred_at=now,
                summary="talk at the stand",
                event_id=eid,
                recorded_at=now,
            )
            envelope = Envelope.wrap(event, producer="bench")
            futures.append(
                await producer.send(topic, envelope.to_bytes(), key=envelope.key.encode())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _raw_consume(bootstrap: str, since: dict[TopicPartition, int], count: int) -> float:
    consumer = AIOKafkaConsumer(**stack_kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        t0 = time.monotonic()
        seen = 0
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
            for records in batch.values():
                seen += sum(1 for r in records if r.value and b"ContactRecorded" in r.value)
        return time.monotonic() - t0
    finally:
        await consumer.stop()


async def main(count: int, clients: int) -> None:
    from crm_campaigns.app import CampaignsSettings, create
    from crm_contracts.topics import CONTACTS
    from crm_kit.testing import (
        StackEndpoints,
        bearer,
        end_offsets,
        http_client,
        new_jwt_keys,
        running,
    )
    from crm_kit.testing import service_env as env_for

    folder = Path(tempfile.mkdtemp(prefix="bench-catchup-"))
    keys = new_jwt_keys(folder)
    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    settings = env_for(stack, keys, "campaigns", log_level="WARNING")
    headers = bearer(keys, "campaigns:read", "campaigns:write")
    try:
        first = create(CampaignsSettings(**settings))
        async with running(first, drop_database=False), http_client(first) as http:
            created = await http.post(
                "/events",
                json={
                    "kind": "seminar",
                    "title": "catch-up bench",
                    "place": {"venue": "hall"},
                    "starts_at": "2031-05-01T10:00:00Z",
                    "ends_at": "2031-05-01T12:00:00Z",
                    "timezone": "UTC",
                },
                headers=headers,
            )
            created.raise_for_status()
            eid = created.json()["id"]

        since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
        t0 = time.monotonic()
        await _produce(stack.kafka_bootstrap, CONTACTS, eid, count, clients)
        print(f"produced {count} ContactRecorded in {time.monotonic() - t0:.1f} s")

        raw_s = await _raw_consume(
            stack.kafka_bootstrap,
            {TopicPartition(CONTACTS, p): o for p, o in since.items()},
            count,
        )
        raw_rate = count / raw_s
        print(f"baseline, raw aiokafka consume: {raw_s:.2f} s, {raw_rate:,.0f} events/s")

        from crm_campaigns.handlers import reactions

        second = create(CampaignsSettings(**settings))
        calls_before = reactions.gathered_contacts.calls_made
        COMMANDS.phase = "catch-up"
        t1 = time.monotonic()
        async with running(second), http_client(second) as http:
            last = -1
            while True:
                got = await http.get(f"/events/{eid}/effectiveness", headers=headers)
                got.raise_for_status()
                counted = int(got.json()["contact_records"])
                if counted >= count:
                    break
                if counted != last:
                    last = counted
                await asyncio.sleep(0.5)
            service_s = time.monotonic() - t1
            COMMANDS.phase = ""
        service_rate = count / service_s
        print(
            f"campaigns effectiveness counters caught up: {service_s:.1f} s, "
            f"{service_rate:,.0f} events/s (start-up included)"
        )
        print(f"ratio service / raw consume: {service_rate / raw_rate:.4f}")
        calls = reactions.gathered_contacts.calls_made - calls_before
        kinds = COMMANDS.by_command()
        total = sum(n for n, _ in kinds.values())
        print(
            f"bulk calls of the contact reaction: {calls} ({count / max(calls, 1):.1f} records "
            f"each); store commands during catch-up: {total} ({total / count:.3f} per record)"
        )
        store_s = sum(seconds for _, seconds in kinds.values())
        print(f"store time summed over the commands: {store_s:.1f} s of {service_s:.1f} s")
        for (name, collection), (n, seconds) in sorted(kinds.items(), key=lambda kv: -kv[1][0])[:8]:
            print(f"  {n:>7}  {name} {collection}  ({seconds * 1000 / n:.1f} ms each)")
    finally:
        shutil.rmtree(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument(
        "--clients",
        type=int,
        default=500,
        help="distinct clients the records cycle through (the Kafka key): 500 gives runs of "
        "one client's records in a poll; as many as --count gives every record its own lane",
    )
    args = parser.parse_args()
    asyncio.run(main(args.count, args.clients))
