"""Queries on clients (with their people and curator history embedded)."""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Sequence
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
from crm_contacts.repository.search_index import (
    FIELDS,
    SearchEntry,
    SearchIndex,
    at_of,
    millis_of,
)

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

    def matches(self, e: SearchEntry) -> bool:
        """What :meth:`query` selects, applied to a search index entry."""
        return self.predicate()(e)

    def predicate(self) -> Callable[[SearchEntry], bool]:
        """:meth:`matches` with the filter's values prepared once, for a pass over every
        entry of the index."""
        statuses = frozenset(s.value for s in self.statuses)
        codes = frozenset(self.activity_codes)
        regions = frozenset(self.regions)
        tags = frozenset(t.strip().lower() for t in self.tags)
        curator = self.curator_id
        since = millis_of(self.registered_from) if self.registered_from else None
        until = millis_of(self.registered_to) if self.registered_to else None
        text = _text_test(self.text) if self.text and self.text.strip() else None

        def test(e: SearchEntry) -> bool:
            if statuses and e.status not in statuses:
                return False
            if codes and e.activity_code not in codes:
                return False
            if regions and e.region not in regions:
                return False
            if tags and not tags.issubset(e.tags):
                return False
            if curator and e.curator_id != curator:
                return False
            if since is not None and e.at_ms < since:
                return False
            if until is not None and e.at_ms >= until:
                return False
            return text is None or text(e)

        return test


def _text_test(text: str) -> Callable[[SearchEntry], bool]:
    name = normalise_name(text)
    lowered = text.strip().lower()
    email = lowered if "@" in lowered or "." in lowered else None
    digits = re.sub(r"\D", "", text) if looks_like_phone(text) else None

    def test(e: SearchEntry) -> bool:
        if name and name in e.name_norm:
            return True
        if email is not None and any(email in m for m in e.emails):
            return True
        return digits is not None and any(digits in p.lstrip("+") for p in e.phones)

    return test


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

    async def refresh_search_entry(self, client_id: str) -> bool:
        """Rewrite a client's search entry from the stored client (a no-op if it is current);
        ``False`` if this base does not know the client."""
        doc: Document | None = await self.collection.find_one({"_id": client_id}, FIELDS)
        if doc is None:
            return False
        await self.index.put(doc)
        await self.keys.put(doc)
        return True

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
        test = where.predicate()
        keys = [(e.at_ms, e.client_id) for b in await self.index.buckets() for e in b if test(e)]
        if cursor is not None:
            at, client_id = decode_cursor(cursor)
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidCursor(
                    "the cursor is not one this service issued", field="query.cursor"
                )
            start = (millis_of(at), client_id)
            keys = [k for k in keys if k > start]
        # The page only: a partial selection rather than a sort of every match.
        page = heapq.nsmallest(limit + 1, keys)
        more = len(page) > limit
        page = page[:limit]
        ids = [client_id for _, client_id in page]
        by_id = {c.client_id: c for c in await self.get_many(ids)} if ids else {}
        found = [
            c for _, client_id in page if (c := by_id.get(client_id)) and c.merged_into is None
        ]
        next_cursor = encode_cursor(at_of(page[-1][0]), page[-1][1]) if more else None
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
