"""Queries on clients (with their people and curator history embedded)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import ClientStatus
from crm_kit.outbox import OUTBOX, Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.database import AsyncDatabase

from crm_contacts import domain
from crm_contacts.domain.matching import looks_like_phone, normalise_name
from crm_contacts.repository.documents import client_doc, client_of, without_id
from crm_contacts.repository.pagination import Page, after, page_of

CLIENTS = "clients"
_HIDDEN = {OUTBOX: 0}


@dataclass(frozen=True)
class ClientFilter:
    statuses: tuple[ClientStatus, ...] = ()
    activity_codes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    curator_id: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    text: str | None = None

    def query(self) -> dict[str, Any]:
        """The store filter; merged clients never show in a search."""
        clauses: list[dict[str, Any]] = [{"merged_into": None}]
        if self.statuses:
            clauses.append({"status": {"$in": [s.value for s in self.statuses]}})
        if self.activity_codes:
            clauses.append({"activity_code": {"$in": list(self.activity_codes)}})
        if self.regions:
            clauses.append({"region": {"$in": list(self.regions)}})
        if self.tags:
            clauses.append({"tags": {"$all": [t.strip().lower() for t in self.tags]}})
        if self.curator_id:
            clauses.append({"curator_id": self.curator_id})
        period: dict[str, datetime] = {}
        if self.registered_from:
            period["$gte"] = self.registered_from
        if self.registered_to:
            period["$lt"] = self.registered_to
        if period:
            clauses.append({"registered_at": period})
        if self.text and self.text.strip():
            clauses.append(_text_clause(self.text))
        return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _text_clause(text: str) -> dict[str, Any]:
    """Name (contains, normalised), e-mail (contains) or phone (digits contained)."""
    options: list[dict[str, Any]] = []
    name = normalise_name(text)
    if name:
        options.append({"name_norm": {"$regex": re.escape(name)}})
    lowered = text.strip().lower()
    if "@" in lowered or "." in lowered:
        options.append({"emails": {"$regex": re.escape(lowered)}})
    if looks_like_phone(text):
        digits = re.sub(r"\D", "", text)
        options.append({"match_keys": {"$regex": f"^phone:\\+\\d*{digits}"}})
    return {"$or": options} if options else {"_id": None}


async def create_indexes(runtime_db: AsyncDatabase[Document]) -> None:
    clients = runtime_db[CLIENTS]
    await clients.create_index([("registered_at", 1), ("_id", 1)])
    await clients.create_index([("status", 1), ("registered_at", 1), ("_id", 1)])
    await clients.create_index([("region", 1), ("registered_at", 1)])
    await clients.create_index([("activity_code", 1), ("registered_at", 1)])
    await clients.create_index("tags")
    await clients.create_index("curator_id")
    await clients.create_index("match_keys")
    await clients.create_index("source.questionnaire_response_id")
    await clients.create_index("people.person_id")


class ClientRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.clients = runtime.outbox(CLIENTS, entity="client")
        self.collection = self.clients.collection
        self.runtime = runtime

    async def add(
        self,
        client: domain.Client,
        events: Sequence[ContractEvent],
        *,
        causation_id: str | None = None,
    ) -> domain.Client:
        doc = await self.clients.insert(client_doc(client), events, causation_id=causation_id)
        return client_of(doc)

    async def save(
        self,
        client: domain.Client,
        events: Sequence[ContractEvent],
        *,
        expected_version: int,
    ) -> domain.Client:
        """Replace the stored state with ``client``, if it is still at ``expected_version``."""
        state = without_id(client_doc(client))
        doc = await self.clients.update(
            client.client_id, {"$set": state}, events, expected_version=expected_version
        )
        return client_of(doc)

    async def get(self, client_id: str) -> domain.Client | None:
        doc: Document | None = await self.collection.find_one({"_id": client_id}, _HIDDEN)
        return client_of(doc) if doc else None

    async def get_many(self, client_ids: Sequence[str]) -> list[domain.Client]:
        cursor = self.collection.find({"_id": {"$in": list(client_ids)}}, _HIDDEN)
        return [client_of(d) async for d in cursor]

    async def matching(
        self, keys: Sequence[str], *, excluding: str | None = None, limit: int = 10
    ) -> list[domain.Client]:
        """Live clients sharing any of ``keys``, in a stable order."""
        if not keys:
            return []
        query: dict[str, Any] = {"match_keys": {"$in": list(keys)}, "merged_into": None}
        if excluding is not None:
            query["_id"] = {"$ne": excluding}
        cursor = self.collection.find(query, _HIDDEN).sort([("registered_at", 1), ("_id", 1)])
        return [client_of(d) async for d in cursor.limit(limit)]

    async def client_id_of_person(self, person_id: str) -> str | None:
        """The client (live or merged) a person was added to."""
        doc = await self.collection.find_one({"people.person_id": person_id}, {"_id": 1})
        return str(doc["_id"]) if doc else None

    async def by_questionnaire_response(self, response_id: str) -> domain.Client | None:
        doc = await self.collection.find_one(
            {"source.questionnaire_response_id": response_id}, _HIDDEN
        )
        return client_of(doc) if doc else None

    async def search(
        self, where: ClientFilter, *, cursor: str | None, limit: int
    ) -> Page[domain.Client]:
        query = where.query()
        resume = after("registered_at", cursor)
        if resume:
            query = {"$and": [query, resume]}
        found = (
            self.collection.find(query, _HIDDEN)
            .sort([("registered_at", 1), ("_id", 1)])
            .limit(limit + 1)
        )
        docs = [d async for d in found]
        kept, next_cursor = page_of(docs, "registered_at", limit)
        return Page([client_of(d) for d in kept], next_cursor)

    async def shared_keys(self) -> list[str]:
        """Match keys held by more than one live client (the seeds of likely duplicates)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"merged_into": None}},
            {"$project": {"match_keys": 1}},
            {"$unwind": "$match_keys"},
            {"$group": {"_id": "$match_keys", "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$sort": {"_id": 1}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        return [d["_id"] async for d in cursor if not str(d["_id"]).startswith("person:")]

    async def holders(self, keys: Sequence[str]) -> list[Document]:
        """``_id``, name and keys of the live clients holding any of ``keys``."""
        cursor = self.collection.find(
            {"match_keys": {"$in": list(keys)}, "merged_into": None},
            {"name": 1, "match_keys": 1, "registered_at": 1},
        )
        return [d async for d in cursor]
