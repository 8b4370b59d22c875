"""Which clients hold a duplicate-matching key, kept in documents keyed by the key itself.

The duplicate check asks "who holds any of these keys" on every registration. On the local
FerretDB a filter on ``match_keys`` reads every client (only an ``_id`` filter uses an index,
docs/decisions/0002), so a registration slowed down with the size of the client base. Here each
key is a document ``{"_id": key, "c": [client ids]}``, read by ``_id``.

Entries are only ever added (``$addToSet``): a client that no longer holds a key, or was merged,
is filtered out by reading the candidates themselves, so a stale entry costs a read, never a
wrong answer. An entry missed because the process died between the client's write and this one
is put right by the contacts topic's consumer (``ClientRepository.refresh_search_entry``) or
by the fill at start when the index is new.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from crm_kit.outbox import Document
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

KEYS = "client_keys"
_META = "_meta"  # a key always holds "kind:", so it never collides with this id
FORMAT = 1
WRITE_CHUNK = 50
"""Statements per bulk command (FerretDB v1 wants at most 50)."""
LOOKUP_CHUNK = 400
"""Ids per ``$in`` (the local FerretDB answers at most 500 from its index)."""


class KeyIndex:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[KEYS]

    async def put(self, doc: Document) -> None:
        """Record that client ``doc`` holds each of its ``match_keys``."""
        await self._add({str(k): {str(doc["_id"])} for k in doc.get("match_keys") or ()})

    async def holders(self, keys: Sequence[str]) -> set[str]:
        """Ids of the clients recorded as holding any of ``keys`` (check them before use)."""
        found: set[str] = set()
        wanted = list(dict.fromkeys(keys))
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            async for entry in self.collection.find({"_id": {"$in": chunk}}):
                found.update(str(c) for c in entry.get("c") or ())
        return found

    async def prepare(self, clients: AsyncCollection[Document]) -> None:
        """Fill the index from every client once, when it is new or of an older format."""
        meta = await self.collection.find_one({"_id": _META})
        if meta is not None and meta.get("format") == FORMAT:
            return
        by_key: dict[str, set[str]] = {}
        async for doc in clients.find({}, {"match_keys": 1}):
            for key in doc.get("match_keys") or ():
                by_key.setdefault(str(key), set()).add(str(doc["_id"]))
        await self._add(by_key)
        await self.collection.update_one({"_id": _META}, {"$set": {"format": FORMAT}}, upsert=True)

    async def _add(self, by_key: dict[str, set[str]]) -> None:
        ops: list[UpdateOne] = [
            UpdateOne({"_id": key}, {"$addToSet": {"c": {"$each": sorted(ids)}}}, upsert=True)
            for key, ids in by_key.items()
        ]
        for chunk in _chunks(ops, WRITE_CHUNK):
            await self.collection.bulk_write(chunk, ordered=False)


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
