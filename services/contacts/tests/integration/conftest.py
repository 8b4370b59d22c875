"""One contacts app per test module on the real stack; tests keep to their own ids."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from crm_contacts.app import SPEC, ContactsSettings
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.app import create_app
from crm_kit.sealing import opened_envelope
from crm_kit.settings import ServiceSettings
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    http_client,
    read_topic,
    running,
    service_env,
)


def unique_name(prefix: str = "Client") -> str:
    return f"{prefix} {uuid.uuid4().hex[:12]}"


@dataclass
class Contacts:
    """The app under test, a client for it, the usual tokens and shortcuts."""

    app: Any
    api: httpx.AsyncClient
    stack: StackEndpoints
    keys: JwtKeys
    writer: dict[str, str]
    reader: dict[str, str]
    admin: dict[str, str]

    @property
    def db(self) -> Any:
        return self.app.state.runtime.db

    async def offsets(self, topic: str = CONTACTS) -> dict[int, int]:
        return await end_offsets(self.stack.kafka_bootstrap, topic)

    async def events(
        self,
        since: dict[int, int],
        key: str,
        *,
        until: int = 1,
        only: tuple[str, ...] = (),
        topic: str = CONTACTS,
    ) -> list[Envelope]:
        """This key's envelopes (of the ``only`` types, if given) on ``topic`` since ``since``,
        once ``until`` of them arrived. Filtering by type keeps out a fact of an earlier step
        that the relay published after ``since`` was taken. Personal fields are opened with
        the key vault, as the services' consumers open them."""

        def ours(records: list[Any]) -> list[Envelope]:
            found = [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]
            return [e for e in found if not only or e.event_type in only]

        records = await read_topic(
            self.stack.kafka_bootstrap,
            topic,
            since=since,
            until_idle=1.0,
            stop_when=lambda rs: len(ours(rs)) >= until,
        )
        settings = ServiceSettings(mongo_uri=self.stack.mongo_uri)
        return [await opened_envelope(e, settings) for e in ours(records)]

    async def register(self, **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name(), **fields}
        response = await self.api.post("/clients", json=body, headers=self.writer)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def add_person(self, client_id: str, **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name("Person"), **fields}
        response = await self.api.post(
            f"/clients/{client_id}/people", json=body, headers=self.writer
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def employee(self, **fields: Any) -> dict[str, Any]:
        body = {"name": unique_name("Employee"), "department": "sales", "role": "manager"}
        response = await self.api.post("/employees", json={**body, **fields}, headers=self.writer)
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    async def curate(self, client_id: str, curator_id: str) -> None:
        """``curator_id`` made the client's curator, at the client's current version."""
        current = await self.api.get(f"/clients/{client_id}", headers=self.reader)
        assigned = await self.api.put(
            f"/clients/{client_id}/curator",
            json={"employee_id": curator_id},
            headers={**self.writer, "If-Match": current.headers["ETag"]},
        )
        assert assigned.status_code == 200, assigned.text

    async def move(self, client_id: str, status: str, version: int = 1) -> dict[str, Any]:
        """The client moved to ``status`` from ``version``, as a writer asks for it."""
        response = await self.api.post(
            f"/clients/{client_id}/status",
            json={"status": status},
            headers={**self.writer, "If-Match": f'"{version}"'},
        )
        assert response.status_code == 200, response.text
        moved: dict[str, Any] = response.json()
        return moved

    async def stored_client(self, client_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = await self.db["clients"].find_one({"_id": client_id})
        return doc


@contextlib.asynccontextmanager
async def started(
    stack: StackEndpoints, jwt_keys: JwtKeys, *, consumers: bool
) -> AsyncIterator[Contacts]:
    """The contacts app in process; without ``consumers`` it serves HTTP only.

    A fresh consumer group reads every topic from the beginning, and on the shared stack the
    questionnaire intake would re-register every questionnaire ever published (publishing
    again): only the module that tests the consumers runs them.
    """
    spec = SPEC if consumers else dataclasses.replace(SPEC, subscriptions=[])
    app = create_app(spec, ContactsSettings(**service_env(stack, jwt_keys, "contacts")))
    async with running(app), http_client(app, conformance=True) as api:
        yield Contacts(
            app=app,
            api=api,
            stack=stack,
            keys=jwt_keys,
            writer=bearer(jwt_keys, "contacts:read", "contacts:write"),
            reader=bearer(jwt_keys, "contacts:read"),
            admin=bearer(jwt_keys, "contacts:read", "contacts:write", "contacts:admin"),
        )
        rt = app.state.runtime
        await rt.client.drop_database(rt.settings.mongo_database)


@pytest.fixture(scope="module")
async def contacts(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Contacts]:
    async with started(stack, jwt_keys, consumers=False) as running_contacts:
        yield running_contacts
