"""Every query of the contacts service, and only here."""

from __future__ import annotations

from typing import Any

from crm_contracts.contacts import ClientRegistered, ClientSource
from crm_contracts.values import ClientKind, ClientSize, ClientSourceKind, ClientStatus
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.database import AsyncDatabase

from crm_contacts.domain import Client

CLIENTS = "clients"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await db[CLIENTS].create_index("tax_id")
    await db[CLIENTS].create_index([("status", 1), ("_id", 1)])


def _to_document(client: Client) -> Document:
    return {
        "_id": client.client_id,
        "kind": client.kind.value,
        "name": client.name,
        "status": client.status.value,
        "tax_id": client.tax_id,
        "country": client.country,
        "region": client.region,
        "size": client.size.value if client.size else None,
        "tags": list(client.tags),
        "website": client.website,
        "source": client.source.value,
        "source_event_id": client.source_event_id,
        "registered_at": client.registered_at,
    }


def _from_document(doc: Document) -> Client:
    return Client(
        client_id=doc["_id"],
        kind=ClientKind(doc["kind"]),
        name=doc["name"],
        status=ClientStatus(doc["status"]),
        registered_at=doc["registered_at"],
        tax_id=doc.get("tax_id"),
        country=doc.get("country"),
        region=doc.get("region"),
        size=ClientSize(doc["size"]) if doc.get("size") else None,
        tags=tuple(doc.get("tags", ())),
        website=doc.get("website"),
        source=ClientSourceKind(doc.get("source", "manual")),
        source_event_id=doc.get("source_event_id"),
        version=doc.get("version", 1),
    )


def registered_event(client: Client, by: str | None) -> ClientRegistered:
    return ClientRegistered(
        client_id=client.client_id,
        kind=client.kind,
        name=client.name,
        status=client.status,
        tax_id=client.tax_id,
        country=client.country,
        region=client.region,
        size=client.size,
        tags=client.tags,
        website=client.website,
        source=ClientSource(kind=client.source, event_id=client.source_event_id),
        version=client.version,
        registered_at=client.registered_at,
        registered_by=by,
    )


class ClientRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.clients = runtime.outbox(CLIENTS, entity="client")

    async def add(self, client: Client, *, by: str | None) -> Client:
        doc = await self.clients.insert(_to_document(client), [registered_event(client, by)])
        return _from_document(doc)

    async def get(self, client_id: str) -> Client | None:
        doc: dict[str, Any] | None = await self.clients.collection.find_one(
            {"_id": client_id}, {"outbox": 0}
        )
        return _from_document(doc) if doc else None
