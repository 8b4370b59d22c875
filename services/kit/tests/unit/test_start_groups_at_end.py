"""Starting new consumer groups at the topics' end waits for topics not made yet (a first
deployment whose topics an operator is still creating) and then names them. The broker is
faked here: an in-memory admin and consumer standing in for aiokafka's."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError
from crm_kit import app as kit_app
from crm_kit.kafka import KafkaAccess


class FakeBroker:
    def __init__(self) -> None:
        self.topics: dict[str, int] = {}
        self.commits: dict[str, dict[TopicPartition, int]] = {}


def _fake_clients(broker: FakeBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    class FakeAdmin:
        def __init__(self, **_: Any) -> None:
            pass

        async def start(self) -> None:
            pass

        async def close(self) -> None:
            pass

        async def list_consumer_group_offsets(self, group: str) -> dict[TopicPartition, Any]:
            return {tp: off for tp, off in broker.commits.get(group, {}).items()}

        async def describe_topics(self, topics: list[str]) -> list[dict[str, Any]]:
            return [
                {"topic": t, "error_code": 0, "partitions": [{"partition": p} for p in range(n)]}
                if (n := broker.topics.get(t))
                else {"topic": t, "error_code": 3, "partitions": []}
                for t in topics
            ]

    class FakeConsumer:
        def __init__(self, *, group_id: str, **_: Any) -> None:
            self.group = group_id

        async def start(self) -> None:
            pass

        async def stop(self) -> None:
            pass

        def assign(self, tps: list[TopicPartition]) -> None:
            self.tps = tps

        async def end_offsets(self, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
            return dict.fromkeys(tps, 7)

        async def commit(self, offsets: dict[TopicPartition, int]) -> None:
            if not offsets:
                raise ValueError(offsets)  # as aiokafka does
            broker.commits[self.group] = offsets

    monkeypatch.setattr(kit_app, "AIOKafkaAdminClient", FakeAdmin)
    monkeypatch.setattr(kit_app, "AIOKafkaConsumer", FakeConsumer)


async def test_a_topic_not_made_yet_is_a_retriable_refusal_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = FakeBroker()
    _fake_clients(broker, monkeypatch)

    with pytest.raises(UnknownTopicOrPartitionError, match=r"crm\.contacts\.v1 do not exist yet"):
        await kit_app._start_new_groups_at_end(
            KafkaAccess("fake:9092"), {"crm-test": ["crm.contacts.v1"]}
        )
    assert broker.commits == {}


async def test_start_up_waits_for_the_topic_and_then_starts_the_group_at_its_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker = FakeBroker()
    _fake_clients(broker, monkeypatch)
    tries = 0
    start = kit_app._start_new_groups_at_end

    async def topic_appears_on_the_second_try() -> None:
        nonlocal tries
        tries += 1
        if tries == 2:
            broker.topics["crm.contacts.v1"] = 2
        await start(KafkaAccess("fake:9092"), {"crm-test": ["crm.contacts.v1"]})

    await kit_app._retrying(
        "starting new consumer groups at the end", topic_appears_on_the_second_try
    )

    assert tries == 2
    assert broker.commits["crm-test"] == {
        TopicPartition("crm.contacts.v1", 0): 7,
        TopicPartition("crm.contacts.v1", 1): 7,
    }
