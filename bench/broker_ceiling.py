"""Broker ceiling: Kafka's own producer tool next to raw aiokafka, same count, same machine.

    uv run python bench/broker_ceiling.py [--count 100000] [--size 1024]

Needs the local stack (`uv run crm-stack up`). Prints records per second for:
  1. org.apache.kafka.tools.ProducerPerformance, acks=all, idempotent (the JVM client ceiling);
  2. aiokafka producing the same count (acks=all, idempotent, pipelined sends);
  3. aiokafka consuming them back;
and the ratios of 2 and 3 to 1. These are the limits the services are compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from crm_kit.testing import stack_kafka_options

HERE = Path(__file__).resolve().parent
CACHE = Path(os.environ.get("CRM_STACK_CACHE", Path.home() / ".cache" / "crm-stack"))
KAFKA_VERSION = "4.4.0"


def tools_classpath() -> str:
    libs = CACHE / f"kafka-tools-{KAFKA_VERSION}"
    marker = libs / ".complete"
    if not marker.exists():
        if shutil.which("mvn") is None:
            sys.exit("bench: mvn is needed once to fetch Kafka's tools (apt-get install maven)")
        subprocess.run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(HERE / "kafka-tools" / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={libs}",
            ],
            check=True,
        )
        marker.write_text("ok\n")
    return f"{libs}/*"


async def make_topic(bootstrap: str, name: str) -> None:
    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=6, replication_factor=1)])
    finally:
        await admin.close()


def java_producer(bootstrap: str, topic: str, count: int, size: int) -> float:
    out = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            tools_classpath(),
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(count),
            "--record-size",
            str(size),
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            "enable.idempotence=true",
            "linger.ms=5",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    last = [line for line in out.splitlines() if "records sent" in line][-1]
    match = re.search(r"([\d.]+) records/sec", last)
    if match is None:
        sys.exit(f"bench: cannot read ProducerPerformance output: {last}")
    return float(match.group(1))


async def aiokafka_produce(bootstrap: str, topic: str, count: int, size: int) -> float:
    producer = AIOKafkaProducer(
        **stack_kafka_options(bootstrap), acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    payload = os.urandom(size)
    try:
        started = time.perf_counter()
        futures = []
        for i in range(count):
            futures.append(await producer.send(topic, payload, key=str(i % 1000).encode()))
            if len(futures) >= 10_000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def aiokafka_consume(bootstrap: str, topic: str, count: int) -> float:
    consumer = AIOKafkaConsumer(
        topic,
        **stack_kafka_options(bootstrap),
        group_id=f"bench-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        seen = 0
        started = time.perf_counter()
        while seen < count:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            seen += sum(len(records) for records in batch.values())
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    bootstrap = os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    run = uuid.uuid4().hex[:8]
    java_topic, py_topic = f"bench.ceiling.java.{run}", f"bench.ceiling.py.{run}"
    await make_topic(bootstrap, java_topic)
    await make_topic(bootstrap, py_topic)

    java = await asyncio.to_thread(java_producer, bootstrap, java_topic, args.count, args.size)
    produced = await aiokafka_produce(bootstrap, py_topic, args.count, args.size)
    consumed = await aiokafka_consume(bootstrap, py_topic, args.count)
    print(f"broker ceiling, {args.count} records of {args.size} B, acks=all, idempotent")
    print(f"  kafka ProducerPerformance (JVM) {java:>12,.0f} records/s   1.00 (baseline)")
    print(f"  aiokafka produce                {produced:>12,.0f} records/s   {produced / java:.2f}")
    print(f"  aiokafka consume                {consumed:>12,.0f} records/s   {consumed / java:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
