"""A compact search index of the clients, packed into a few documents.

FerretDB v1 pushes down only a filter of the form ``{_id: <value>}``; any other filter reads
and decodes every document of the collection, and the cost grows with the documents' size (a
client carries its people, curator history and outbox). Searching 10,000 clients that way takes
seconds. So every client also has one short entry (a JSON string of what the search filters
on) in one of ``BUCKETS`` index documents: a search reads the bucket documents, filters and
orders the entries in the service, and loads the page's clients by ``_id``.

The entry is written right after the client document, guarded by the client's version so that
a late writer cannot put back an older state; the consumer of the contacts topic rewrites it
from the stored client after every fact about it, which repairs an entry a crash left behind
(the fact itself is in the client's outbox, so it is published). A merged client keeps a
tombstone, which a search skips.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from crm_kit.outbox import Document
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

SEARCH = "client_search"
BUCKETS = 32
FORMAT = 2
"""Raised when the entry's shape changes: the next start rebuilds every entry."""
_META = "meta"
FIELDS = {
    "_id": 1,
    "version": 1,
    "merged_into": 1,
    "registered_at": 1,
    "status": 1,
    "activity_code": 1,
    "region": 1,
    "tags": 1,
    "curator_id": 1,
    "name_norm": 1,
    "emails": 1,
    "match_keys": 1,
}
"""The client document's fields an entry is made of."""


def to_millis(at: datetime) -> datetime:
    """The store keeps milliseconds; the index compares what the store would."""
    return at.replace(microsecond=at.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class SearchEntry:
    client_id: str
    registered_at: datetime
    status: str
    activity_code: str | None
    region: str | None
    tags: tuple[str, ...]
    curator_id: str | None
    name_norm: str
    emails: tuple[str, ...]
    phones: tuple[str, ...]
    """E.164 numbers of the client's people."""

    def encode(self) -> str:
        return json.dumps(
            [
                self.registered_at.astimezone(UTC).isoformat(),
                self.status,
                self.activity_code,
                self.region,
                list(self.tags),
                self.curator_id,
                self.name_norm,
                list(self.emails),
                list(self.phones),
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @classmethod
    def decode(cls, client_id: str, text: str) -> SearchEntry:
        at, status, activity, region, tags, curator, name, emails, phones = json.loads(text)
        return cls(
            client_id=client_id,
            registered_at=datetime.fromisoformat(at),
            status=status,
            activity_code=activity,
            region=region,
            tags=tuple(tags),
            curator_id=curator,
            name_norm=name,
            emails=tuple(emails),
            phones=tuple(phones),
        )

    @classmethod
    def of_client_doc(cls, doc: Document) -> SearchEntry:
        at: datetime = doc["registered_at"]
        if at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return cls(
            client_id=str(doc["_id"]),
            registered_at=to_millis(at),
            status=doc["status"],
            activity_code=doc.get("activity_code"),
            region=doc.get("region"),
            tags=tuple(doc.get("tags") or ()),
            curator_id=doc.get("curator_id"),
            name_norm=doc.get("name_norm") or "",
            emails=tuple(doc.get("emails") or ()),
            phones=tuple(
                str(k).removeprefix("phone:")
                for k in doc.get("match_keys") or ()
                if str(k).startswith("phone:")
            ),
        )


def bucket_of(client_id: str) -> int:
    return zlib.crc32(client_id.encode()) % BUCKETS


def _stamp(version: int) -> str:
    return f"{version:010d}|"


def _value(doc: Document) -> str:
    """``<version, zero-padded>|<entry>``; a merged client's entry is empty (a tombstone).

    One string per client: the store decodes a string far faster than a sub-document, and the
    zero-padded version prefix orders two values of one client as their versions.
    """
    text = "" if doc.get("merged_into") else SearchEntry.of_client_doc(doc).encode()
    return _stamp(int(doc.get("version", 1))) + text


def _version_of(value: str) -> int:
    return int(value.split("|", 1)[0])


class SearchIndex:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[SEARCH]

    async def put(self, doc: Document) -> None:
        """Write the entry of a stored client document unless a newer one is there."""
        client_id = str(doc["_id"])
        path = f"e.{client_id}"
        await self.collection.update_one(
            {
                "_id": bucket_of(client_id),
                "$or": [
                    {path: {"$exists": False}},
                    {path: {"$lt": _stamp(int(doc.get("version", 1)))}},
                ],
            },
            {"$set": {path: _value(doc)}},
        )

    async def entries(self) -> list[SearchEntry]:
        """Every live client's entry (read from ``BUCKETS`` documents)."""
        out: list[SearchEntry] = []
        async for bucket in self.collection.find({}):
            if bucket["_id"] == _META:
                continue
            for client_id, value in (bucket.get("e") or {}).items():
                text = value.split("|", 1)[1]
                if text:
                    out.append(SearchEntry.decode(client_id, text))
        return out

    async def prepare(self, clients: AsyncCollection[Document]) -> None:
        """Create the bucket documents; fill every entry if the index is new or of an older
        format (one read of the clients collection, then one write per bucket)."""
        have = {d["_id"] async for d in self.collection.find({}, {"_id": 1})}
        for bucket in range(BUCKETS):
            if bucket not in have:
                await self.collection.update_one(
                    {"_id": bucket}, {"$setOnInsert": {"e": {}}}, upsert=True
                )
        meta = await self.collection.find_one({"_id": _META})
        if meta is not None and meta.get("format") == FORMAT:
            return
        await self._fill([d async for d in clients.find({}, FIELDS)])
        await self.collection.update_one({"_id": _META}, {"$set": {"format": FORMAT}}, upsert=True)

    async def _fill(self, docs: Iterable[Document]) -> None:
        """Write every bucket whole (one short write each). A client written meanwhile keeps
        its newer entry; one written between this bucket's read and write is put right by the
        contacts topic's consumer (the repair path)."""
        by_bucket: dict[int, list[Document]] = {b: [] for b in range(BUCKETS)}
        for doc in docs:
            by_bucket[bucket_of(str(doc["_id"]))].append(doc)
        for bucket, members in by_bucket.items():
            current = await self.collection.find_one({"_id": bucket}) or {}
            entries: dict[str, str] = {
                k: v for k, v in (current.get("e") or {}).items() if isinstance(v, str)
            }
            for d in members:
                known = entries.get(str(d["_id"]))
                if known is None or _version_of(known) <= int(d.get("version", 1)):
                    entries[str(d["_id"])] = _value(d)
            await self.collection.update_one({"_id": bucket}, {"$set": {"e": entries}})
