"""A compact search index of the clients, packed into a few documents, cached per process.

FerretDB v1 pushes down only a filter on a string ``_id``; any other filter reads and decodes
every document of the collection, and the cost grows with the documents' size (a client carries
its people, curator history and outbox). Searching 10,000 clients that way takes tens of
seconds. So every client also has one short entry (a JSON string of what the search filters
on) in one of ``BUCKETS`` buckets (``b00`` … ``b31``, by the crc32 of its id), each stored as
``PAGES`` page documents keyed by string ids (``b07.00`` … ``b07.15``, the next bits of the same
crc32) so that a bucket is one ``_id $in`` read. A search filters and orders the entries in the
service and loads the page's clients by ``_id``.

A page is one string (a line per client) and a counter ``v``; an entry write reads the page and
writes it back whole, guarded by ``v``. FerretDB v1 rewrites a whole document on every update,
at a cost that grows with its fields (about 0.04 ms per entry on the 2-core machine): with one
document per bucket holding an entry per field, 15,000 clients made buckets of 470 entries and
an entry write of 16 to 20 ms, twice per registration (the request, then the contacts
consumer's repair). A page holds a sixteenth of a bucket, and as one string it costs the store
one field to decode: a write is a point read and a short rewrite, a cold read of 10,000
entries in 512 strings is faster than in 32 documents of 300 fields (decision 0010,
"Registration cost"). A page is created by its first entry; a repair that finds its entry
current writes nothing.

Decoding the buckets is itself the slow part (about a second for 10,000 entries: the store and
PyMongo decoding the documents, then Python decoding the entries), so each process keeps the
decoded entries of every bucket in a :class:`SearchCache`, each bucket under the revision it was
read at. One small document (``_id: "rev"``) holds a counter per bucket and an epoch:
:meth:`SearchIndex.put` and the fill increment the bucket's counter **after** writing the entry,
and a search reads the revision document **first** (one point read), then re-reads only the
buckets whose counter differs from the cached one (their pages, one ``_id $in``). Since the
revision is read before the bucket and incremented after the entry, a bucket read under
revision ``r`` holds at least every write counted in ``r``: the cache is never older than the
revision it is stored under, and a write whose ``put`` has returned is seen by every later
search of every process. Several service processes each keep their own cache; none is shared
and none needs telling, because each checks the revision document on every search. The epoch
(set when the revision document is created) tells a recreated document from the old one, whose
counters restarted. The counters stay per bucket (32 of them), not per page: an increment of a
document of 256 counters took 6 ms, and every write makes one.

The entry is written right after the client document, guarded by the client's version so that
a late writer cannot put back an older state; the consumer of the contacts topic rewrites it
from the stored client after every fact about it, which repairs an entry a crash left behind
(the fact itself is in the client's outbox, so it is published). That rewrite increments the
revision even when the entry was already current, so an entry written just before a crash that
skipped its increment still reaches every cache. A merged client keeps a tombstone, which a
search skips.
"""

from __future__ import annotations

import asyncio
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
from pymongo.errors import DuplicateKeyError

SEARCH = "client_search"
BUCKETS = 32
BUCKET_IDS = tuple(f"b{b:02d}" for b in range(BUCKETS))
PAGES = 16
"""Page documents per bucket: an entry write rewrites one page, not the whole bucket."""
PAGE_IDS = {b: tuple(f"{b}.{p:02d}" for p in range(PAGES)) for b in BUCKET_IDS}
READ_CHUNK = 128
"""Page ids per ``$in`` (the local FerretDB looks up at most 500 by its ``_id`` index); a cold
read of every bucket sends ``BUCKETS * PAGES / READ_CHUNK`` of them at once."""
_ATTEMPTS = 100
"""Reads of a page before giving up, each lost to a write of the same page by another writer."""
FORMAT = 4
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
    """The bucket of the client's entry (what the revision document counts)."""
    return BUCKET_IDS[zlib.crc32(client_id.encode()) % BUCKETS]


def page_of(client_id: str) -> str:
    """The ``_id`` of the page document holding the client's entry, one of its bucket's."""
    crc = zlib.crc32(client_id.encode())
    return PAGE_IDS[BUCKET_IDS[crc % BUCKETS]][crc // BUCKETS % PAGES]


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


def parse_page(text: str) -> dict[str, str]:
    """A page's entries, client id → value (a page is one string: a line per client,
    ``<client id>|<value>``; ids hold no ``|`` and JSON no raw line break)."""
    found: dict[str, str] = {}
    for line in text.split("\n"):
        if line:
            client_id, value = line.split("|", 1)
            found[client_id] = value
    return found


def format_page(entries: dict[str, str]) -> str:
    """The page string of ``entries`` (see :func:`parse_page`)."""
    return "\n".join(f"{client_id}|{value}" for client_id, value in entries.items())


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
        self.pages: dict[str, tuple[int, dict[str, str]]] = {}
        """The last known state of each page (its ``v`` and entries), where an entry write
        starts from."""

    def keep_page(self, page: str, version: int, entries: dict[str, str]) -> None:
        known = self.pages.get(page)
        if known is None or known[0] < version:
            self.pages[page] = (version, entries)

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
        await self._merge(page_of(client_id), {client_id: _value(doc)})
        await self._bump([bucket_of(client_id)])

    async def _merge(self, page: str, values: dict[str, str]) -> None:
        """Put ``values`` into ``page`` where the stored value's version is older or there is
        none, writing the page whole, guarded by its own counter ``v``. The write starts
        from this process's last known state of the page (no read when it is current: a
        concurrent writer of the page fails the guard and the page is read again); the
        decision that nothing needs writing is only taken on a fresh read."""
        known = self.cache.pages.get(page)
        for _ in range(_ATTEMPTS):
            fresh = known is None
            if known is None:
                current = await self.collection.find_one({"_id": page})
                known = (int(current["v"]), parse_page(str(current["s"]))) if current else None
            entries = known[1] if known else {}
            changed = {
                client_id: value
                for client_id, value in values.items()
                if (stored := entries.get(client_id)) is None
                or _version_of(stored) < _version_of(value)
            }
            if not changed:
                if fresh:
                    return
                known = None  # confirm on the store
                continue
            merged = {**entries, **changed}
            text = format_page(merged)
            if known is None:
                try:
                    await self.collection.insert_one({"_id": page, "v": 1, "s": text})
                except DuplicateKeyError:
                    continue  # another writer created the page: read it
                self.cache.keep_page(page, 1, merged)
                return
            version = known[0]
            written = await self.collection.update_one(
                {"_id": page, "v": version}, {"$set": {"s": text, "v": version + 1}}
            )
            if written.matched_count:
                self.cache.keep_page(page, version + 1, merged)
                return
            known = None  # written by another writer meanwhile: read it
        raise RuntimeError(f"search index page {page}: {_ATTEMPTS} writers in a row got first")

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
        """The entries of each of ``buckets``: their pages, read by ``_id $in`` in chunks of
        ``READ_CHUNK`` sent at once (the store answers them side by side)."""
        pages = [p for b in buckets for p in PAGE_IDS[b]]
        chunks = await asyncio.gather(
            *(
                self.collection.find({"_id": {"$in": pages[at : at + READ_CHUNK]}}).to_list()
                for at in range(0, len(pages), READ_CHUNK)
            )
        )
        found: dict[str, dict[str, Any]] = {b: {} for b in buckets}
        for docs in chunks:
            for d in docs:
                entries = parse_page(str(d["s"]))
                found[str(d["_id"]).split(".", 1)[0]].update(entries)
                self.cache.keep_page(str(d["_id"]), int(d["v"]), entries)
        return found

    async def prepare(self, clients: AsyncCollection[Document]) -> None:
        """Fill every entry if the index is new or of an older format (one read of the
        clients collection, then a read and a write per page)."""
        meta = await self.collection.find_one({"_id": _META})
        if meta is not None and meta.get("format") == FORMAT:
            return
        # Format 2 kept the buckets under integer ids (which the store cannot look up), format
        # 3 each bucket in one document under its bucket id, an entry per field.
        await self.collection.delete_many({"_id": {"$in": list(range(BUCKETS))}})
        await self.collection.delete_many({"_id": {"$in": list(BUCKET_IDS)}})
        await self._fill([d async for d in clients.find({}, FIELDS)])
        await self.collection.update_one({"_id": _META}, {"$set": {"format": FORMAT}}, upsert=True)

    async def _fill(self, docs: Iterable[Document]) -> None:
        """Put the entries of ``docs``, one page write each (where a client was written
        meanwhile, its newer entry stays), then count a write of every bucket."""
        by_page: dict[str, dict[str, str]] = {}
        for doc in docs:
            by_page.setdefault(page_of(str(doc["_id"])), {})[str(doc["_id"])] = _value(doc)
        for page, values in by_page.items():
            await self._merge(page, values)
        await self._bump(BUCKET_IDS)
