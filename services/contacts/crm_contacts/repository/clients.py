"""Queries on clients (with their people and curator history embedded)."""

from __future__ import annotations

import asyncio
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
from crm_contacts.repository.key_index import LOOKUP_CHUNK, KeyIndex
from crm_contacts.repository.pagination import InvalidCursor, Page, decode_cursor, encode_cursor
from crm_contacts.repository.search_index import FIELDS, SearchEntry, SearchIndex, to_millis

CLIENTS = "clients"
_HIDDEN = {OUTBOX: 0}
_PAGE_LOADS = 8
"""Point reads of a page's clients in flight at once."""


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

    def matches(self, e: SearchEntry) -> bool:
        """What :meth:`query` selects, applied to a search index entry."""
        if self.statuses and e.status not in {s.value for s in self.statuses}:
            return False
        if self.activity_codes and e.activity_code not in self.activity_codes:
            return False
        if self.regions and e.region not in self.regions:
            return False
        if self.tags and not {t.strip().lower() for t in self.tags} <= set(e.tags):
            return False
        if self.curator_id and e.curator_id != self.curator_id:
            return False
        if self.registered_from and e.registered_at < to_millis(self.registered_from):
            return False
        if self.registered_to and e.registered_at >= to_millis(self.registered_to):
            return False
        if self.text and self.text.strip():
            return _text_matches(self.text, e)
        return True


def _text_matches(text: str, e: SearchEntry) -> bool:
    name = normalise_name(text)
    if name and name in e.name_norm:
        return True
    lowered = text.strip().lower()
    if ("@" in lowered or "." in lowered) and any(lowered in m for m in e.emails):
        return True
    if looks_like_phone(text):
        digits = re.sub(r"\D", "", text)
        return any(digits in p.lstrip("+") for p in e.phones)
    return False


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
    await SearchIndex(runtime_db).prepare(clients)
    await KeyIndex(runtime_db).prepare(clients)


class ClientRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.clients = runtime.outbox(CLIENTS, entity="client")
        self.collection = self.clients.collection
        self.index = SearchIndex(runtime.db)
        self.keys = KeyIndex(runtime.db)
        self.runtime = runtime

    async def add(
        self,
        client: domain.Client,
        events: Sequence[ContractEvent],
        *,
        causation_id: str | None = None,
    ) -> domain.Client:
        doc = await self.clients.insert(client_doc(client), events, causation_id=causation_id)
        await self.index.put(doc)
        await self.keys.put(doc)
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
        await self.index.put(doc)
        await self.keys.put(doc)
        return client_of(doc)

    async def refresh_search_entry(self, client_id: str) -> None:
        """Rewrite a client's search entry from the stored client (a no-op if it is current)."""
        doc: Document | None = await self.collection.find_one({"_id": client_id}, FIELDS)
        if doc is not None:
            await self.index.put(doc)
            await self.keys.put(doc)

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
        docs = await self._live_holders(keys, _HIDDEN, excluding=excluding)
        docs.sort(key=lambda d: (d["registered_at"], str(d["_id"])))
        return [client_of(d) for d in docs[:limit]]

    async def _live_holders(
        self, keys: Sequence[str], projection: dict[str, Any], *, excluding: str | None = None
    ) -> list[Document]:
        """The live clients holding any of ``keys``: candidates from the key index, read by
        ``_id`` and checked, since the index only ever grows. ``projection`` must keep
        ``match_keys``."""
        if not keys:
            return []
        ids = sorted((await self.keys.holders(keys)) - {excluding})
        wanted = set(keys)
        found: list[Document] = []
        for start in range(0, len(ids), LOOKUP_CHUNK):
            chunk = ids[start : start + LOOKUP_CHUNK]
            async for d in self.collection.find(
                {"_id": {"$in": chunk}, "merged_into": None}, projection
            ):
                if wanted.intersection(d.get("match_keys") or ()):
                    found.append(d)
        return found

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
        """Filter the search index, then read the page's clients by ``_id`` (see
        :mod:`search_index`): in (registration time, id) order, resumed after ``cursor``."""
        keys = sorted(
            (e.registered_at, e.client_id) for e in await self.index.entries() if where.matches(e)
        )
        if cursor is not None:
            at, client_id = decode_cursor(cursor)
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidCursor(
                    "the cursor is not one this service issued", field="query.cursor"
                )
            keys = [k for k in keys if k > (at, client_id)]
        page = keys[:limit]
        gate = asyncio.Semaphore(_PAGE_LOADS)

        async def load(client_id: str) -> domain.Client | None:
            async with gate:
                return await self.get(client_id)

        loaded = await asyncio.gather(*(load(client_id) for _, client_id in page))
        found = [c for c in loaded if c is not None and c.merged_into is None]
        next_cursor = encode_cursor(page[-1][0], page[-1][1]) if len(keys) > limit else None
        return Page(found, next_cursor)

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
        return await self._live_holders(keys, {"name": 1, "match_keys": 1, "registered_at": 1})
