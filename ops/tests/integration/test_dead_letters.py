"""`crm dlq` on the real broker: list, replay once, and never replay the same letter twice."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer
from crm_contracts.topics import dead_letter_topic
from crm_kit.consumer import DLQ_ERROR, DLQ_SOURCE_TOPIC
from crm_kit.testing import (
    FreshTopics,
    StackEndpoints,
    forget_groups,
    read_topic,
    stack_kafka_options,
)
from crm_ops import kafka
from crm_ops.cli import main


async def test_dead_letters_are_listed_and_replayed_to_their_source_exactly_once(
    stack: StackEndpoints, fresh_topics: FreshTopics
) -> None:
    source = fresh_topics.name("test.ops")
    dlq = dead_letter_topic(source, "crm-test")
    await fresh_topics.create(source, dlq, partitions=2)
    try:
        await _list_and_replay(stack, source, dlq)
    finally:
        # The tool's own replay progress for this throw-away topic.
        await forget_groups(stack.kafka_bootstrap, [kafka.replay_group(dlq)])


async def _list_and_replay(stack: StackEndpoints, source: str, dlq: str) -> None:
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for i in range(3):
            # The first kept its original's correlation header, which the replay restores.
            kept = [("correlation_id", b"corr-replayed")] if i == 0 else []
            await producer.send_and_wait(
                dlq,
                f"letter {i}".encode(),
                key=b"k",
                headers=[(DLQ_SOURCE_TOPIC, source.encode()), (DLQ_ERROR, b"boom"), *kept],
            )
    finally:
        await producer.stop()

    listed = await kafka.list_dead_letters(stack.kafka_bootstrap, dlq)
    assert [letter.value for letter in listed] == [b"letter 0", b"letter 1", b"letter 2"]
    assert {letter.describe()["error"] for letter in listed} == {"boom"}

    dry = await kafka.replay(stack.kafka_bootstrap, dlq, dry_run=True)
    assert len(dry) == 3
    replayed = await kafka.replay(stack.kafka_bootstrap, dlq)
    assert len(replayed) == 3
    again = await kafka.replay(stack.kafka_bootstrap, dlq)
    assert again == []

    on_source = await read_topic(
        stack.kafka_bootstrap, source, stop_when=lambda rs: len(rs) >= 3, until_idle=1.0
    )
    assert sorted(r.value for r in on_source) == [b"letter 0", b"letter 1", b"letter 2"]
    assert {r.value: list(r.headers) for r in on_source} == {
        b"letter 0": [("correlation_id", b"corr-replayed")],
        b"letter 1": [],
        b"letter 2": [],
    }


async def test_the_command_line_lists_topics_with_partitions(
    stack: StackEndpoints, capsys: object
) -> None:
    import asyncio

    # A prefix: the shared development broker holds thousands of test topics.
    code = await asyncio.to_thread(
        main, ["--bootstrap", stack.kafka_bootstrap, "topics", "--prefix", "crm.contacts.v1"]
    )
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    assert code == 0
    lines = out.splitlines()
    assert all(line.startswith("crm.contacts.v1") for line in lines)
    line = next(line for line in lines if line.startswith("crm.contacts.v1 "))
    assert "partitions   6" in line
