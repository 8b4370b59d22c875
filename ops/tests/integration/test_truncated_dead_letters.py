"""`crm dlq replay` refuses a truncated dead letter and replays the whole ones beside it."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from crm_contracts.topics import dead_letter_topic
from crm_kit.dead_letters import DLQ_ORIGINAL_SIZE, DLQ_SOURCE_TOPIC, DLQ_TRUNCATED
from crm_kit.testing import (
    FreshTopics,
    StackEndpoints,
    forget_groups,
    read_topic,
    stack_kafka_options,
)
from crm_ops import kafka
from crm_ops.cli import main


async def test_a_truncated_dead_letter_is_refused_by_replay_and_the_whole_one_replayed(
    stack: StackEndpoints, fresh_topics: FreshTopics, capsys: object
) -> None:
    source = fresh_topics.name("test.ops-truncated")
    dlq = dead_letter_topic(source, "crm-test")
    await fresh_topics.create(source, dlq)
    try:
        producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
        await producer.start()
        try:
            for value, truncated, size in (
                (b"whole", b"false", b"5"),
                (b"cut", b"true", b"3000000"),
            ):
                await producer.send_and_wait(
                    dlq,
                    value,
                    key=b"k",
                    headers=[
                        (DLQ_SOURCE_TOPIC, source.encode()),
                        (DLQ_TRUNCATED, truncated),
                        (DLQ_ORIGINAL_SIZE, size),
                    ],
                )
        finally:
            await producer.stop()

        listed = await kafka.list_dead_letters(stack.kafka_bootstrap, dlq)
        assert [letter.truncated for letter in listed] == [False, True]
        assert "not replayable" in listed[1].describe()["message"]

        code = await asyncio.to_thread(
            main, ["--bootstrap", stack.kafka_bootstrap, "dlq", "replay", dlq]
        )
        out = capsys.readouterr().out  # type: ignore[attr-defined]
        assert code == 0
        assert f"replayed 1 dead letters from {dlq}" in out
        assert "refused 1 truncated dead letters" in out

        on_source = await read_topic(
            stack.kafka_bootstrap, source, stop_when=lambda rs: len(rs) >= 1, until_idle=1.0
        )
        assert [r.value for r in on_source] == [b"whole"]
        again = await kafka.replay_all(stack.kafka_bootstrap, dlq)
        assert (again.replayed, again.refused) == ([], [])
    finally:
        await forget_groups(stack.kafka_bootstrap, [kafka.replay_group(dlq)])
