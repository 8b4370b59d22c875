"""The campaigns app running in process on the real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from crm_campaigns.app import CampaignsSettings, create
from crm_contracts.topics import CONTACTS, NOTIFY, PROPOSALS
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    http_client,
    running,
    service_env,
)


@dataclass
class Campaigns:
    app: Any
    http: httpx.AsyncClient
    keys: JwtKeys

    @property
    def runtime(self) -> Any:
        return self.app.state.runtime

    def read(self) -> dict[str, str]:
        return bearer(self.keys, "campaigns:read")

    def write(self, version: int | None = None) -> dict[str, str]:
        headers = bearer(self.keys, "campaigns:read", "campaigns:write")
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        return headers


async def skip_history(bootstrap: str, group: str, topics: tuple[str, ...]) -> None:
    """Commit the group's offsets at the topics' current ends, so a fresh test group reads what
    this test publishes instead of replaying everyone's history first (the shared topics hold
    tens of thousands of benchmark records)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        offsets = {}
        for topic in topics:
            for partition, end in (await end_offsets(bootstrap, topic)).items():
                offsets[TopicPartition(topic, partition)] = end
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


@pytest.fixture
async def campaigns(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Campaigns]:
    settings = CampaignsSettings(**service_env(stack, jwt_keys, "campaigns"))
    await skip_history(
        stack.kafka_bootstrap, settings.consumer_group, (CONTACTS, NOTIFY, PROPOSALS)
    )
    app = create(settings)
    async with running(app), http_client(app) as http:
        yield Campaigns(app, http, jwt_keys)
        rt = app.state.runtime
        await rt.client.drop_database(rt.settings.mongo_database)
