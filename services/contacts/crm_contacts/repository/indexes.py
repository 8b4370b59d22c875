"""The indexes every query of the service runs on, and the start-up backfill of the clients.

Run at every start (``ServiceSpec.indexes``); creating an existing index is a no-op. A database
written before the clients carried their search terms and ``shared`` marks (``FORMAT``) gets
them once, from one pass over the clients, recorded in ``store_format``; running it twice, or
in two instances at once, writes the same values.
"""

from __future__ import annotations

from typing import Any

from crm_kit.outbox import Document
from crm_kit.store_format import drop_indexes, upgrade_once
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_contacts.repository.clients import CLIENTS, SHARED
from crm_contacts.repository.dismissals import DISMISSALS
from crm_contacts.repository.documents import client_of
from crm_contacts.repository.employees import EMPLOYEES
from crm_contacts.repository.prospects import INDEXES as PROSPECT_INDEXES
from crm_contacts.repository.records import CONTACTS
from crm_contacts.repository.search import (
    SEARCH_CHANNELS,
    SEARCH_TERMS,
    search_channels,
    search_terms,
)
from crm_contacts.repository.timeline import TIMELINE

FORMAT = 1
"""Raised when what the backfill derives changes: the next start derives it again."""
_BULK = 1000
"""Updates per bulk write of the backfill (what it holds in memory at once)."""
_DROPPED_FIELDS = ("name_norm", "emails", "activity_code")
_DROPPED_COLLECTIONS = ("client_search", "client_keys")
_DROPPED_INDEXES = {
    CLIENTS: (
        "status_1_registered_at_1__id_1",
        "region_1_registered_at_1",
        "activity_code_1_registered_at_1",
        "tags_1",
        "curator_id_1",
    ),
    EMPLOYEES: ("department_1_active_1",),
}


def _index(*fields: str, **options: Any) -> IndexModel:
    return IndexModel([(f, ASCENDING) for f in fields], **options)


INDEXES: dict[str, list[IndexModel]] = {
    CLIENTS: [
        _index("registered_at", "_id"),
        _index(SEARCH_TERMS, "registered_at", "_id"),
        _index(SEARCH_CHANNELS),
        _index("match_keys"),
        _index(SHARED, partialFilterExpression={SHARED: {"$exists": True}}),
        _index("people.person_id"),
        _index("source.questionnaire_response_id"),
    ],
    EMPLOYEES: [
        _index("registered_at", "_id"),
        _index("department", "registered_at", "_id"),
        _index("active", "registered_at", "_id"),
    ],
    CONTACTS: [
        _index("occurred_at", "_id"),
        *(
            _index(field, "occurred_at", "_id")
            for field in ("client_id", "person_id", "employee_id", "event_id", "proposal_id")
        ),
    ],
    TIMELINE: [_index("client_id", "at", "_id"), _index("refs.person_id", "at", "_id")],
    DISMISSALS: [_index("dismissed_at", "_id")],
}


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    for indexes in (INDEXES, PROSPECT_INDEXES):
        for name, models in indexes.items():
            await db[name].create_indexes(models)
    await upgrade_once(db, CLIENTS, FORMAT, lambda: _upgrade(db))


async def _upgrade(db: AsyncDatabase[Document]) -> None:
    for name in _DROPPED_COLLECTIONS:
        await db.drop_collection(name)
    for collection, names in _DROPPED_INDEXES.items():
        await drop_indexes(db[collection], names)
    await _backfill_terms(db[CLIENTS])
    await _backfill_shared(db[CLIENTS])


async def _write(collection: AsyncCollection[Document], ops: list[UpdateOne]) -> None:
    if ops:
        await collection.bulk_write(ops, ordered=False)
        ops.clear()


async def _backfill_terms(clients: AsyncCollection[Document]) -> None:
    """Each client's search terms from its stored state, where they differ; guarded by its
    version, so a client written meanwhile (with its terms, by the service) is left alone."""
    ops: list[UpdateOne] = []
    async for doc in clients.find({}, {"outbox": 0, SHARED: 0}):
        client = client_of(doc)
        derived = {SEARCH_TERMS: search_terms(client), SEARCH_CHANNELS: search_channels(client)}
        stale = [f for f in _DROPPED_FIELDS if f in doc]
        if all(doc.get(k) == v for k, v in derived.items()) and not stale:
            continue
        update: dict[str, Any] = {"$set": derived}
        if stale:
            update["$unset"] = dict.fromkeys(stale, "")
        ops.append(UpdateOne({"_id": doc["_id"], "version": doc.get("version")}, update))
        if len(ops) >= _BULK:
            await _write(clients, ops)
    await _write(clients, ops)


async def _backfill_shared(clients: AsyncCollection[Document]) -> None:
    """Mark every duplicate key held by two or more live clients on each of them."""
    pipeline: list[dict[str, Any]] = [
        {"$match": {"merged_into": None}},
        {"$project": {"match_keys": 1}},
        {"$unwind": "$match_keys"},
        {"$match": {"match_keys": {"$not": {"$regex": "^person:"}}}},
        {"$group": {"_id": "$match_keys", "ids": {"$addToSet": "$_id"}}},
        {"$match": {"ids.1": {"$exists": True}}},
    ]
    keys_of: dict[Any, list[str]] = {}
    async for group in await clients.aggregate(pipeline):
        for client_id in group["ids"]:
            keys_of.setdefault(client_id, []).append(str(group["_id"]))
    ops: list[UpdateOne] = []
    for client_id, keys in keys_of.items():
        ops.append(UpdateOne({"_id": client_id}, {"$addToSet": {SHARED: {"$each": sorted(keys)}}}))
        if len(ops) >= _BULK:
            await _write(clients, ops)
    await _write(clients, ops)
