"""The ops CLI's integration tests work on topics of their own (``test.ops_…``), which the
operator user ``crm-ops`` may not write (it replays dead letters onto the service topics only):
so here the CLI logs in as the stack's admin (``CRM_KAFKA_*``), not as ``CRM_OPS_KAFKA_*``.

The rebuild tests run a service's consumers over fresh copies of its topics (``replays``)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from crm_contracts.base import ContractEvent
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_kit.app import ServiceSpec
from crm_kit.testing import FreshTopics, StackEndpoints, eventually, stack_kafka_options
from crm_ops import kafka


@pytest.fixture(autouse=True)
def _ops_cli_as_the_stack_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CRM_OPS_KAFKA_"):
            monkeypatch.delenv(name)


@dataclass
class Replays:
    """A service's subscriptions moved onto fresh copies of their topics, so that a live run
    and a rebuild both read this test's events and not the shared stack's whole history."""

    bootstrap: str
    fresh_topics: FreshTopics
    partitions: int = 3
    topics: dict[str, str] = field(default_factory=dict)
    """The service's topic → this test's copy of it."""

    @staticmethod
    def example(kind: type[Any], **fields: Any) -> Any:
        """The contract's example of ``kind`` with ``fields`` replaced."""
        template = next(e for e in example_events() if isinstance(e, kind))
        return template.model_copy(update=fields)

    async def moved(
        self, spec: ServiceSpec, *, routes: bool = False, workers: bool = False
    ) -> ServiceSpec:
        """``spec`` with its subscriptions reading fresh topics, without its routes and its
        workers unless asked."""
        for sub in spec.subscriptions:
            for topic in sub.topics:
                if topic not in self.topics:
                    self.topics[topic] = self.fresh_topics.name(f"test.rebuild.{topic}")
        await self.fresh_topics.create(*self.topics.values(), partitions=self.partitions)
        subscriptions = [
            dataclasses.replace(sub, topics=tuple(self.topics[t] for t in sub.topics))
            for sub in spec.subscriptions
        ]
        return dataclasses.replace(
            spec,
            routers=spec.routers if routes else [],
            workers=spec.workers if workers else [],
            subscriptions=subscriptions,
        )

    async def publish(self, *events: ContractEvent) -> list[Envelope]:
        """Each event on the copy of its topic, keyed as its producer keys it."""
        producer = AIOKafkaProducer(**stack_kafka_options(self.bootstrap), acks="all")
        await producer.start()
        sent: list[Envelope] = []
        try:
            for event in events:
                envelope = Envelope.wrap(event, producer="ops-test")
                await producer.send_and_wait(
                    self.topics[event.topic],
                    envelope.to_bytes(),
                    key=event.aggregate_key().encode(),
                )
                sent.append(envelope)
        finally:
            await producer.stop()
        return sent

    async def offsets(self) -> dict[TopicPartition, int]:
        async with kafka.consumer(self.bootstrap) as c:
            tps = [
                TopicPartition(t, p) for t in self.topics.values() for p in range(self.partitions)
            ]
            ends: dict[TopicPartition, int] = await c.end_offsets(tps)
        return ends

    async def caught_up(self, group: str) -> None:
        """Wait until ``group`` committed every record now on the fresh topics."""

        async def done() -> bool:
            committed = {
                (r.topic, r.partition): r.committed for r in await kafka.lag(self.bootstrap, group)
            }
            return all(
                end == 0 or committed.get((tp.topic, tp.partition)) == end
                for tp, end in (await self.offsets()).items()
            )

        await eventually(
            done, what="the live consumer caught up with its topics", within=60, interval=0.5
        )


@pytest.fixture
def replays(stack: StackEndpoints, fresh_topics: FreshTopics) -> Replays:
    return Replays(stack.kafka_bootstrap, fresh_topics)
