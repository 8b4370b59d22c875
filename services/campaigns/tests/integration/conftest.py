"""The campaigns app running in process on the real broker and store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from crm_campaigns.app import CampaignsSettings, create
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
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


@pytest.fixture
async def campaigns(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Campaigns]:
    # service_env starts the group at the topics' end; running() drops the database after.
    settings = CampaignsSettings(**service_env(stack, jwt_keys, "campaigns"))
    app = create(settings)
    async with running(app), http_client(app) as http:
        yield Campaigns(app, http, jwt_keys)
