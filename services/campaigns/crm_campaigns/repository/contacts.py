"""Managers' contact records at events, written many at a time (the catch-up path).

A record document (``event_contacts``, ``_id`` = the contact id) is the claim that its record
is counted: it is inserted (with ``counted: False``, meaning "see the mark"), the event's counter
is moved, then a mark with the same ``_id`` is inserted in ``counted_contacts`` (small
documents in bulk: marking the records themselves with one ``update_many`` by ``_id $in`` took
120 ms for 175 records on the local store, against 5 ms per 50 inserted marks). A redelivered
record finds its document: with a mark (or stored before marks were kept, so without the
``counted`` field) it was counted, nothing to do; without one, the counting before was cut
short, and it is counted now. Only a failure between the counter's update and the mark can
count a record twice (one write apart; before, a failure between the insert and the counter
lost it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.outbox import OUTBOX, VERSION, Document, outbox_entry
from crm_kit.runtime import Runtime
from pymongo.errors import BulkWriteError

from crm_campaigns.repository import EVENT_CONTACTS, EVENTS

WRITE_CHUNK = 50
"""Documents per bulk insert (decision 0002: the local store wants bulk writes of 20-50)."""
READ_CHUNK = 400
"""Ids per ``_id $in`` read (the local store uses its index up to 500)."""
COUNTED = "counted"
COUNTED_CONTACTS = "counted_contacts"
"""One mark per contact record whose counting completed (``_id`` = the contact id)."""
DUPLICATE_KEY = 11000


async def read_by_ids(
    runtime: Runtime, collection: str, ids: Iterable[str], projection: Mapping[str, Any]
) -> dict[str, Document]:
    """The documents of ``ids`` that exist, by ``_id``, with ``_id $in`` reads of at most
    :data:`READ_CHUNK` (each cursor exhausted)."""
    wanted = list(dict.fromkeys(ids))
    found: dict[str, Document] = {}
    for start in range(0, len(wanted), READ_CHUNK):
        chunk = wanted[start : start + READ_CHUNK]
        cursor = runtime.db[collection].find({"_id": {"$in": chunk}}, dict(projection))
        found.update({str(doc["_id"]): doc async for doc in cursor})
    return found


async def programmes_of(runtime: Runtime, event_ids: Iterable[str]) -> dict[str, str | None]:
    """Each stored marketing event's programme (None for an event outside any); an unknown
    event is missing from the result."""
    docs = await read_by_ids(runtime, EVENTS, event_ids, {"programme_id": 1})
    return {eid: doc.get("programme_id") for eid, doc in docs.items()}


class EventContacts:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.collection = runtime.db[EVENT_CONTACTS]

    async def claim(
        self, records: Sequence[tuple[Mapping[str, Any], Sequence[ContractEvent]]]
    ) -> list[Document]:
        """Insert each record (a document with its events) unless stored; returns the records
        not yet counted: the new ones, and stored ones whose counting was cut short."""
        producer = self.runtime.settings.service_name
        docs: list[Document] = [
            {
                **document,
                COUNTED: False,
                VERSION: 1,
                OUTBOX: [outbox_entry(e, producer=producer) for e in events],
            }
            for document, events in records
        ]
        stored: list[str] = []
        for start in range(0, len(docs), WRITE_CHUNK):
            chunk = docs[start : start + WRITE_CHUNK]
            try:
                await self.collection.insert_many(chunk, ordered=False)
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                if any(e.get("code") != DUPLICATE_KEY for e in errors):
                    raise
                stored.extend(str(chunk[e["index"]]["_id"]) for e in errors)
        for doc in docs:
            if doc[OUTBOX]:
                self.runtime.relay.wake(EVENT_CONTACTS, doc["_id"])
        if not stored:
            return docs
        before = await read_by_ids(self.runtime, EVENT_CONTACTS, stored, {COUNTED: 1})
        # A document without the field was stored (and counted) before marks were kept.
        unsure = [i for i, doc in before.items() if doc.get(COUNTED, True) is False]
        marked = await read_by_ids(self.runtime, COUNTED_CONTACTS, unsure, {"_id": 1})
        cut_short = set(unsure) - set(marked)
        taken = set(stored)
        return [d for d in docs if d["_id"] not in taken or d["_id"] in cut_short]

    async def mark_counted(self, ids: Sequence[str]) -> None:
        marks = [{"_id": i} for i in ids]
        for start in range(0, len(marks), WRITE_CHUNK):
            try:
                await self.runtime.db[COUNTED_CONTACTS].insert_many(
                    marks[start : start + WRITE_CHUNK], ordered=False
                )
            except BulkWriteError as exc:  # marked by an earlier, cut-short attempt
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
