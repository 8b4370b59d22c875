"""The proposals app on the real stack, and a driver that plays contacts' part on the topic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses
from crm_contracts.contacts import (
    ClientRegistered,
    ClientSource,
    CuratorAssigned,
    EmployeeRegistered,
    PersonAdded,
)
from crm_contracts.envelope import Envelope
from crm_contracts.values import (
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    Department,
    Language,
)
from crm_kit.query_plans import TEST_READ, collection_scans, profile_every_operation
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    eventually,
    http_client,
    running,
    service_env,
    stack_kafka_options,
)
from crm_proposals.app import ProposalsSettings, create

ALL_SCOPES = ("proposals:read", "proposals:write", "proposals:admin")


@dataclass
class Crm:
    """One running proposals app, an HTTP client to it, and contacts' facts on demand."""

    app: Any
    http: httpx.AsyncClient
    stack: StackEndpoints
    keys: JwtKeys
    producer: AIOKafkaProducer

    @property
    def db(self) -> Any:
        return self.app.state.runtime.db

    def auth(self, *scopes: str) -> dict[str, str]:
        return bearer(self.keys, *(scopes or ALL_SCOPES))

    def signed_in(self, employee_id: str, *roles: str) -> dict[str, str]:
        """A signed-in employee's token (proposals:read/write) with these realm roles."""
        return bearer(
            self.keys,
            "proposals:read",
            "proposals:write",
            subject=f"user-{employee_id}",
            roles=roles,
            employee_id=employee_id,
        )

    async def post_as(
        self, headers: dict[str, str], path: str, version: int, body: Any = None
    ) -> httpx.Response:
        response = await self.http.post(
            path, json=body, headers={**headers, "If-Match": f'"{version}"'}
        )
        await self.settled()
        return response

    def writer(self) -> dict[str, str]:
        return bearer(self.keys, "proposals:read", "proposals:write")

    async def publish(self, *events: ContractEvent) -> None:
        for event in events:
            await self.producer.send_and_wait(
                event.topic,
                value=Envelope.wrap(event, producer="test").to_bytes(),
                key=event.aggregate_key().encode(),
            )

    async def employee(
        self, name: str = "Ivan", department: Department = Department.SALES, within: float = 120
    ) -> str:
        employee_id = uuid.uuid4().hex
        await self.publish(
            EmployeeRegistered(
                employee_id=employee_id,
                name=name,
                department=department,
                role="manager",
                channels=ChannelAddresses(email=f"{employee_id}@example.com"),
                active=True,
                version=1,
                registered_at=datetime.now(UTC),
            )
        )
        await eventually(
            lambda: self.db["employee_projection"].find_one({"_id": employee_id}),
            within=within,
            what=f"employee {employee_id} projected",
        )
        return employee_id

    async def client_with_curator(
        self, name: str = "Acme", status: ClientStatus = ClientStatus.ACTIVE, **details: Any
    ) -> tuple[str, str]:
        """A client registered in contacts, with a curator assigned: (client id, curator id).

        ``details`` are more of ``ClientRegistered``'s fields (tax id, country, addresses...).
        """
        curator = await self.employee("Curator")
        client_id = uuid.uuid4().hex
        now = datetime.now(UTC)
        await self.publish(
            ClientRegistered(
                client_id=client_id,
                kind=ClientKind.ORGANISATION,
                name=name,
                status=status,
                source=ClientSource(kind=ClientSourceKind.MANUAL),
                version=1,
                registered_at=now,
                **details,
            ),
            CuratorAssigned(
                client_id=client_id, client_name=name, curator_id=curator, assigned_at=now
            ),
        )
        await eventually(
            lambda: self.db["client_projection"].find_one(
                {"_id": client_id, "curator_id": curator, "version": 1}
            ),
            within=120,
            what=f"client {client_id} with its curator projected",
        )
        return client_id, curator

    async def person(
        self, client_id: str, name: str = "Olga", *, phone: str | None = None, **details: Any
    ) -> str:
        """A person of the client, added in contacts and projected here; ``details`` are more
        of ``PersonAdded``'s fields (position...)."""
        person_id = uuid.uuid4().hex
        await self.publish(
            PersonAdded(
                client_id=client_id,
                person_id=person_id,
                name=name,
                language=Language.EN,
                channels=ChannelAddresses(email=f"{person_id}@example.com", phone=phone),
                version=1,
                added_at=datetime.now(UTC),
                **details,
            )
        )
        await eventually(
            lambda: self.db["person_projection"].find_one({"_id": person_id}),
            within=120,
            what=f"person {person_id} projected",
        )
        return person_id

    async def catalogue_item(self, price: int = 10_000, currency: str = "EUR") -> str:
        code = f"T-{uuid.uuid4().hex[:12]}"
        created = await self.http.post(
            "/catalog",
            json={
                "code": code,
                "name": f"Item {code}",
                "kind": "service",
                "unit": "hour",
                "list_price": {"amount_minor": price, "currency": currency},
            },
            headers=self.auth(),
        )
        assert created.status_code == 201, created.text
        await self.settled()
        return code

    async def proposal(self, client_id: str, lines: list[dict[str, Any]], **extra: Any) -> Any:
        created = await self.http.post(
            "/proposals",
            json={"client_id": client_id, "title": "Offer", "lines": lines, **extra},
            headers=self.writer(),
        )
        assert created.status_code == 201, created.text
        await self.settled()
        return created.json()

    async def settled(self) -> None:
        """Wait until the relay has published every pending event (the outbox is empty), so
        each write's events are on the topic before the next write."""

        async def drained() -> bool:
            return await self.db["outbox"].count_documents({}, comment=TEST_READ) == 0

        await eventually(drained, what="the outbox relay drained")

    async def post(self, path: str, version: int, body: Any = None) -> httpx.Response:
        response = await self.http.post(
            path, json=body, headers={**self.auth(), "If-Match": f'"{version}"'}
        )
        await self.settled()
        return response

    async def patch(self, path: str, version: int, body: Any) -> httpx.Response:
        response = await self.http.patch(
            path, json=body, headers={**self.auth(), "If-Match": f'"{version}"'}
        )
        await self.settled()
        return response

    async def put(self, path: str, version: int, body: Any) -> httpx.Response:
        response = await self.http.put(
            path, json=body, headers={**self.auth(), "If-Match": f'"{version}"'}
        )
        await self.settled()
        return response

    async def count(self, collection: str, query: dict[str, Any] | None = None) -> int:
        n: int = await self.db[collection].count_documents(query or {}, comment=TEST_READ)
        return n


@pytest.fixture(scope="module")  # stopped with its module: later tests share the topics
async def crm(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Crm]:
    settings = ProposalsSettings(**service_env(stack, jwt_keys, "proposals"))
    app = create(settings)  # its group starts at the topics' end (service_env)
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        # running() drops the test database once the app (and its consumers) stopped.
        async with running(app), http_client(app, conformance=True) as http:
            crm = Crm(app, http, stack, jwt_keys, producer)
            await profile_every_operation(crm.db)
            # The consumer is live once a first employee shows in the projection.
            await crm.employee("Sentinel", within=240)
            yield crm
            # Every query the module's tests made the service run was served by an index.
            assert await collection_scans(crm.db) == []
    finally:
        await producer.stop()
