"""A compact search index of the clients, packed into a few documents, cached per process.

FerretDB v1 pushes down only a filter on a string ``_id``; any other filter reads and decodes
every document of the collection, and the cost grows with the documents' size (a client carries
its people, curator history and outbox). Searching 10,000 clients that way takes tens of
seconds. So every client also has one short entry (a JSON string of what the search filters
on) in one of ``BUCKETS`` index documents, keyed by string ids (``b00`` … ``b31``) so that each
is a point read. A search filters and orders the entries in the service and loads the page's
clients by ``_id``.

Decoding the buckets is itself the slow part (about a second for 10,000 entries: the store and
PyMongo decoding the documents, then Python decoding the entries), so each process keeps the
decoded entries of every bucket in a :class:`SearchCache`, each bucket under the revision it was
read at. One small document (``_id: "rev"``) holds a counter per bucket and an epoch:
:meth:`SearchIndex.put` and the fill increment the bucket's counter **after** writing the entry,
and a search reads the revision document **first** (one point read), then re-reads only the
buckets whose counter differs from the cached one (one ``_id $in``). Since the revision is read
before the bucket and incremented after the entry, a bucket read under revision ``r`` holds at
least every write counted in ``r``: the cache is never older than the revision it is stored
under, and a write whose ``put`` has returned is seen by every later search of every process.
Several service processes each keep their own cache; none is shared and none needs telling,
because each checks the revision document on every search. The epoch (set when the revision
document is created) tells a recreated document from the old one, whose counters restarted.

The entry is written right after the client document, guarded by the client's version so that
a late writer cannot put back an older state; the consumer of the contacts topic rewrites it
from the stored client after every fact about it, which repairs an entry a crash left behind
(the fact itself is in the client's outbox, so it is published). That rewrite increments the
revision even when the entry was already current, so an entry written just before a crash that
skipped its increment still reaches every cache. A merged client keeps a tombstone, which a
search skips.
"""

from __future__ import annotations

import json
import uuid
import weakref
import zlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from crm_kit.outbox import Document
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

SEARCH = "client_search"
BUCKETS = 32
BUCKET_IDS = tuple(f"b{b:02d}" for b in range(BUCKETS))
FORMAT = 3
"""Raised when the entry's shape changes: the next start rebuilds every entry."""
_META = "meta"
REVISION = "rev"
"""The revision document's ``_id``: ``{epoch, r: {<bucket id>: <writes counted>}}``."""
_STAMP = 11
"""Length of the ``<version, 10 digits>|`` prefix of a stored value."""
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

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def millis_of(at: datetime) -> int:
    """Milliseconds since the epoch, truncated as the store truncates (naive means UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def at_of(millis: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=millis)


class SearchEntry(NamedTuple):
    """What a search filters and orders on; a tuple, so that decoding 10,000 is cheap."""

    client_id: str
    at_ms: int
    """Registration time, milliseconds since the epoch (the order and the period filter)."""
    status: str
    activity_code: str | None
    region: str | None
    tags: Sequence[str]
    curator_id: str | None
    name_norm: str
    emails: Sequence[str]
    phones: Sequence[str]
    """E.164 numbers of the client's people."""

    @property
    def registered_at(self) -> datetime:
        return at_of(self.at_ms)

    def encode(self) -> str:
        return json.dumps(
            [
                self.at_ms,
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
        return cls(client_id, *json.loads(text))

    @classmethod
    def of_client_doc(cls, doc: Document) -> SearchEntry:
        return cls(
            client_id=str(doc["_id"]),
            at_ms=millis_of(doc["registered_at"]),
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


def bucket_of(client_id: str) -> str:
    """The ``_id`` of the bucket document holding the client's entry."""
    return BUCKET_IDS[zlib.crc32(client_id.encode()) % BUCKETS]


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


def decode_bucket(values: dict[str, Any]) -> list[SearchEntry]:
    """A bucket's live entries, decoded with one ``json.loads`` for the whole bucket."""
    ids: list[str] = []
    texts: list[str] = []
    for client_id, value in values.items():
        if isinstance(value, str) and len(value) > _STAMP:
            ids.append(client_id)
            texts.append(value[_STAMP:])
    rows = json.loads("[" + ",".join(texts) + "]")
    return [SearchEntry(client_id, *row) for client_id, row in zip(ids, rows, strict=True)]


class SearchCache:
    """One process's decoded buckets, each under the (epoch, counter) it was read at."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[tuple[str, int], list[SearchEntry]]] = {}
        self.bucket_reads = 0
        """Bucket documents read from the store so far (for tests and benches)."""

    def store(self, bucket: str, revision: tuple[str, int], entries: list[SearchEntry]) -> None:
        known = self.buckets.get(bucket)
        # A concurrent search may have stored a newer read already; keep that one.
        if known is None or known[0][0] != revision[0] or known[0][1] <= revision[1]:
            self.buckets[bucket] = (revision, entries)


_CACHES: weakref.WeakKeyDictionary[AsyncMongoClient[Any], dict[str, SearchCache]] = (
    weakref.WeakKeyDictionary()
)


def process_cache(db: AsyncDatabase[Document]) -> SearchCache:
    """The cache of this process for ``db`` (one per client connection and database)."""
    per_db = _CACHES.setdefault(db.client, {})
    return per_db.setdefault(db.name, SearchCache())


class SearchIndex:
    def __init__(self, db: AsyncDatabase[Document], cache: SearchCache | None = None) -> None:
        self.collection: AsyncCollection[Document] = db[SEARCH]
        self.cache = cache if cache is not None else process_cache(db)

    async def put(self, doc: Document) -> None:
        """Write the entry of a stored client document unless a newer one is there, then
        count a write of its bucket (also when the entry was current: see the module)."""
        client_id = str(doc["_id"])
        bucket = bucket_of(client_id)
        path = f"e.{client_id}"
        await self.collection.update_one(
            {
                "_id": bucket,
                "$or": [
                    {path: {"$exists": False}},
                    {path: {"$lt": _stamp(int(doc.get("version", 1)))}},
                ],
            },
            {"$set": {path: _value(doc)}},
        )
        await self._bump([bucket])

    async def _bump(self, buckets: Sequence[str]) -> None:
        await self.collection.update_one(
            {"_id": REVISION},
            {
                "$inc": {f"r.{b}": 1 for b in buckets},
                "$setOnInsert": {"epoch": uuid.uuid4().hex},
            },
            upsert=True,
        )

    async def entries(self) -> list[SearchEntry]:
        """Every live client's entry (see :meth:`buckets`)."""
        return [e for bucket in await self.buckets() for e in bucket]

    async def buckets(self) -> list[list[SearchEntry]]:
        """Every bucket's live entries, from this process's cache where the revision
        document says the cached read is current, else read again (and cached)."""
        revision = await self.collection.find_one({"_id": REVISION})
        if revision is None:
            # No write counted yet (a dropped index): read all, cache nothing.
            docs = await self._read(list(BUCKET_IDS))
            return [decode_bucket(docs.get(b) or {}) for b in BUCKET_IDS]
        epoch = str(revision.get("epoch"))
        counters: dict[str, int] = revision.get("r") or {}
        wanted = {b: (epoch, int(counters.get(b, 0))) for b in BUCKET_IDS}
        cached = self.cache.buckets
        stale = [b for b in BUCKET_IDS if b not in cached or cached[b][0] != wanted[b]]
        if stale:
            docs = await self._read(stale)
            for b in stale:
                self.cache.store(b, wanted[b], decode_bucket(docs.get(b) or {}))
            self.cache.bucket_reads += len(stale)
        return [cached[b][1] for b in BUCKET_IDS]

    async def _read(self, buckets: list[str]) -> dict[str, dict[str, Any]]:
        return {
            str(d["_id"]): d.get("e") or {}
            async for d in self.collection.find({"_id": {"$in": buckets}})
        }

    async def prepare(self, clients: AsyncCollection[Document]) -> None:
        """Create the bucket documents; fill every entry if the index is new or of an older
        format (one read of the clients collection, then one write per bucket)."""
        meta = await self.collection.find_one({"_id": _META})
        if meta is not None and meta.get("format") == FORMAT:
            await self._create_buckets()
            return
        # Format 2 kept the buckets under integer ids (which the store cannot look up).
        await self.collection.delete_many({"_id": {"$in": list(range(BUCKETS))}})
        await self._create_buckets()
        await self._fill([d async for d in clients.find({}, FIELDS)])
        await self.collection.update_one({"_id": _META}, {"$set": {"format": FORMAT}}, upsert=True)

    async def _create_buckets(self) -> None:
        have = {
            d["_id"]
            async for d in self.collection.find({"_id": {"$in": list(BUCKET_IDS)}}, {"_id": 1})
        }
        for bucket in BUCKET_IDS:
            if bucket not in have:
                await self.collection.update_one(
                    {"_id": bucket}, {"$setOnInsert": {"e": {}}}, upsert=True
                )

    async def _fill(self, docs: Iterable[Document]) -> None:
        """Write every bucket whole (one short write each). A client written meanwhile keeps
        its newer entry; one written between this bucket's read and write is put right by the
        contacts topic's consumer (the repair path)."""
        by_bucket: dict[str, list[Document]] = {b: [] for b in BUCKET_IDS}
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
        await self._bump(BUCKET_IDS)
