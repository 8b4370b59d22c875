"""Managers' contact records at events, written many at a time (the catch-up path).

A record document (``event_contacts``, ``_id`` = the contact id) is the claim that its record
is counted: it is inserted with its events and ``counted: False``, the event's counter is
moved, then the records are marked ``counted: True`` (one ``update_many``). A redelivered record
finds its document: marked (or stored before the mark was kept, so without the field) it was
counted, nothing to do; unmarked, the counting before was cut short, and it is counted now.
Only a failure between the counter's update and the mark can count a record twice (one write
apart).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.outbox import VERSION, Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_campaigns.repository import EVENT_CONTACTS, EVENTS

COUNTED = "counted"


async def read_by_ids(
    runtime: Runtime, collection: str, ids: Iterable[str], projection: Mapping[str, Any]
) -> dict[str, Document]:
    """The documents of ``ids`` that exist, by ``_id`` (one ``_id $in`` read)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    cursor = runtime.db[collection].find({"_id": {"$in": wanted}}, dict(projection))
    return {str(doc["_id"]): doc async for doc in cursor}


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
        self,
        records: Sequence[tuple[Mapping[str, Any], Sequence[ContractEvent]]],
        causes: Mapping[str, tuple[str | None, str]] | None = None,
    ) -> list[Document]:
        """Insert each record with its events unless stored (one transaction); returns the
        records not yet counted: the new ones, and stored ones whose counting was cut short.

        ``causes`` gives, per record id, the correlation id and the event id of the event that
        reported it: records of several events are written together, and each record's events
        carry its own (not those of whichever event's handling does the writing)."""
        if not records:
            return []
        events = self.runtime.events
        docs: list[Document] = [{**document, COUNTED: False, VERSION: 1} for document, _ in records]
        facts = {str(doc["_id"]): evs for doc, (_, evs) in zip(docs, records, strict=True)}
        cause = dict(causes or {})

        def entries(doc_id: str) -> list[Document]:
            correlation, causation = cause.get(doc_id, (None, None))
            return events.entries(facts[doc_id], causation, correlation_id=correlation)

        async def work(session: AsyncClientSession) -> dict[str, bool]:
            # A duplicate key would abort the transaction: what is stored is read first.
            ids = [doc["_id"] for doc in docs]
            found = self.collection.find({"_id": {"$in": ids}}, {COUNTED: 1}, session=session)
            # A document without the field was stored (and counted) before marks were kept.
            stored = {str(d["_id"]): d.get(COUNTED, True) is not False async for d in found}
            new = [doc for doc in docs if str(doc["_id"]) not in stored]
            if new:
                await self.collection.insert_many(new, ordered=True, session=session)
            await events.add(session, [e for doc in new for e in entries(str(doc["_id"]))])
            return stored

        counted = await events.transaction(work)
        return [d for d in docs if not counted.get(str(d["_id"]), False)]

    async def mark_counted(self, ids: Sequence[str]) -> None:
        if ids:
            await self.collection.update_many(
                {"_id": {"$in": list(ids)}}, {"$set": {COUNTED: True}}
            )
