"""Queries on clients (with their people and curator history embedded).

Duplicate matching reads the multikey index on ``match_keys``. For the list of likely
duplicates, each client also carries ``shared``: the keys it holds that another live client
held when either of them was last written (see :meth:`ClientRepository.mark_shared`), so that
the list reads the few clients in the partial index on ``shared`` rather than every client.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo import UpdateOne

from crm_contacts import domain
from crm_contacts.repository.documents import client_doc, client_of, without_id
from crm_contacts.repository.pagination import (
    InvalidCursor,
    Page,
    after,
    decode_cursor,
    page_of,
)
from crm_contacts.repository.search import SEARCH_CHANNELS, SEARCH_TERMS, ClientFilter

CLIENTS = "clients"
SHARED = "shared"
_HIDDEN = {"outbox": 0, SEARCH_TERMS: 0, SEARCH_CHANNELS: 0, SHARED: 0}
"""Derived fields no caller reads back (and a pending outbox of documents written before the
outbox had its own collection)."""
_ORDER = [("registered_at", 1), ("_id", 1)]


def duplicate_keys(keys: Sequence[str]) -> list[str]:
    """The keys that can make two clients a pair: a ``person:`` key names its own client."""
    return [k for k in keys if not k.startswith("person:")]


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
        await self.mark_shared(doc)
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
        await self.mark_shared(doc)
        return client_of(doc)

    async def mark_shared(self, doc: Document) -> None:
        """Record, on a client just written and on the live clients it shares keys with,
        which keys they share.

        Runs after the client's own write, so of two clients written at the same time the
        later one's read sees the other: every pair is marked on at least one of its two.
        The client's own mark is recomputed (a key it dropped leaves it); the others' only
        grow, and the list checks holders again. A mark lost to a crash right after the
        client's write is put back by the contacts consumer (:meth:`refresh_shared`).
        """
        client_id = doc["_id"]
        keys = duplicate_keys(doc.get("match_keys") or ())
        shared: set[str] = set()
        ops: list[UpdateOne] = []
        if keys:
            others = self.collection.find(
                {"match_keys": {"$in": keys}, "_id": {"$ne": client_id}, "merged_into": None},
                {"match_keys": 1, SHARED: 1},
            )
            async for other in others:
                common = set(keys) & set(other["match_keys"])
                shared |= common
                unmarked = sorted(common - set(other.get(SHARED) or ()))
                if unmarked:
                    ops.append(
                        UpdateOne(
                            {"_id": other["_id"], "match_keys": {"$all": unmarked}},
                            {"$addToSet": {SHARED: {"$each": unmarked}}},
                        )
                    )
        if shared != set(doc.get(SHARED) or ()):
            ops.append(
                UpdateOne(
                    {"_id": client_id},
                    {"$set": {SHARED: sorted(shared)}} if shared else {"$unset": {SHARED: ""}},
                )
            )
        if ops:
            await self.collection.bulk_write(ops, ordered=False)

    async def refresh_shared(self, client_id: str) -> bool:
        """:meth:`mark_shared` from the stored client; ``False`` if this base does not know it."""
        doc: Document | None = await self.collection.find_one(
            {"_id": client_id}, {"match_keys": 1, SHARED: 1}
        )
        if doc is None:
            return False
        await self.mark_shared(doc)
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
        """Live clients holding any of ``keys``, earliest registered first."""
        if not keys:
            return []
        query: dict[str, Any] = {"match_keys": {"$in": list(keys)}, "merged_into": None}
        if excluding is not None:
            query["_id"] = {"$ne": excluding}
        cursor = self.collection.find(query, _HIDDEN).sort(_ORDER).limit(limit)
        return [client_of(d) async for d in cursor]

    async def client_id_of_person(self, person_id: str) -> str | None:
        """The client (live or merged) a person was added to."""
        doc = await self.collection.find_one({"people.person_id": person_id}, {"_id": 1})
        return str(doc["_id"]) if doc else None

    async def holding_person(self, person_id: str) -> list[domain.Client]:
        """Every client document holding the person: the live client, and a merged one whose
        people moved to its survivor."""
        cursor = self.collection.find({"people.person_id": person_id}, _HIDDEN).sort("_id", 1)
        return [client_of(d) async for d in cursor]

    async def by_questionnaire_response(self, response_id: str) -> domain.Client | None:
        doc = await self.collection.find_one(
            {"source.questionnaire_response_id": response_id}, _HIDDEN
        )
        return client_of(doc) if doc else None

    async def search(
        self, where: ClientFilter, *, cursor: str | None, limit: int
    ) -> Page[domain.Client]:
        """A page of the clients ``where`` selects, in (registration time, id) order, resumed
        after ``cursor`` (see :mod:`crm_contacts.repository.search`)."""
        query = where.query()
        if cursor is not None:
            at, _ = decode_cursor(cursor)
            if not isinstance(at, datetime) or at.tzinfo is None:
                raise InvalidCursor(
                    "the cursor is not one this service issued", field="query.cursor"
                )
            query = {"$and": [query, after("registered_at", cursor)]}
        found = self.collection.find(query, _HIDDEN).sort(_ORDER).limit(limit + 1)
        kept, next_cursor = page_of([d async for d in found], "registered_at", limit)
        return Page([client_of(d) for d in kept], next_cursor)

    async def sharing_keys(self) -> list[list[Document]]:
        """For each key marked shared that two or more live clients hold (by key): the
        ``_id``, name, keys and registration time of those clients."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {SHARED: {"$exists": True}}},
            {"$unwind": f"${SHARED}"},
            {"$group": {"_id": f"${SHARED}"}},
            {
                "$lookup": {
                    "from": CLIENTS,
                    "localField": "_id",
                    "foreignField": "match_keys",
                    "pipeline": [
                        {"$match": {"merged_into": None}},
                        {"$project": {"name": 1, "match_keys": 1, "registered_at": 1}},
                    ],
                    "as": "holders",
                }
            },
            {"$match": {"holders.1": {"$exists": True}}},
            {"$sort": {"_id": 1}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        return [list(d["holders"]) async for d in cursor]
