"""The campaigns app running in process on the real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from crm_campaigns.app import CampaignsSettings, create
from crm_contracts.topics import CAMPAIGNS
from crm_kit.query_plans import TEST_READ, collection_scans, profile_every_operation
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    eventually,
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


async def topic_end(c: Campaigns, stack: StackEndpoints) -> dict[int, int]:
    """The campaigns topic's end once every event written so far is published (the outbox is
    empty), so what is read after it was caused by what the test does next."""

    async def drained() -> bool:
        outbox = c.runtime.db["outbox"]
        return await outbox.count_documents({}, comment=TEST_READ) == 0

    await eventually(drained, what="the outbox relay drained")
    return await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)


@pytest.fixture
async def campaigns(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Campaigns]:
    # service_env starts the group at the topics' end; running() drops the database after.
    settings = CampaignsSettings(**service_env(stack, jwt_keys, "campaigns"))
    app = create(settings)
    async with running(app), http_client(app, conformance=True) as http:
        await profile_every_operation(app.state.runtime.db)
        yield Campaigns(app, http, jwt_keys)
        # Every query the test made the service run was served by an index.
        assert await collection_scans(app.state.runtime.db) == []
