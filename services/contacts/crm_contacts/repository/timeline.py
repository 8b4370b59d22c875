"""The per-client timeline: one entry per fact about a client, whoever published it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.personal import ERASED
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_contacts.repository.pagination import Page, after, page_of

TIMELINE = "timeline"


@dataclass(frozen=True)
class TimelineEntry:
    entry_id: str
    """The envelope ``event_id`` of the fact, so a redelivered fact lands on the same entry."""
    client_id: str
    at: datetime
    kind: str
    source: str
    summary: str
    refs: dict[str, str]
    actor: dict[str, str | None] | None = None
    """Who made the change (the fact's envelope ``actor``: app and employee); None: no caller."""
    merged_from: str | None = None
    """The client merged last into ``client_id`` when the fact was about a merged client (kept,
    not cleared, on a put: a merge's repointing sets it too)."""


def _entry_of(doc: Document) -> TimelineEntry:
    return TimelineEntry(
        entry_id=doc["_id"],
        client_id=doc["client_id"],
        at=doc["at"],
        kind=doc["kind"],
        source=doc["source"],
        summary=doc["summary"],
        refs=dict(doc.get("refs") or {}),
        actor=doc.get("actor"),
    )


class TimelineRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[TIMELINE]

    async def put(self, entry: TimelineEntry) -> None:
        """Upsert by the fact's id: replaying a topic gives the same timeline."""
        fields: dict[str, Any] = {
            "client_id": entry.client_id,
            "at": entry.at,
            "kind": entry.kind,
            "source": entry.source,
            "summary": entry.summary,
            "refs": entry.refs,
            "actor": entry.actor,
        }
        if entry.merged_from is not None:
            fields["merged_from"] = entry.merged_from
        await self.collection.update_one({"_id": entry.entry_id}, {"$set": fields}, upsert=True)

    async def list(self, client_id: str, *, cursor: str | None, limit: int) -> Page[TimelineEntry]:
        return await self._page([{"client_id": client_id}], cursor, limit)

    async def since(
        self,
        client_ids: Sequence[str],
        since: datetime,
        *,
        cursor: str | None,
        limit: int,
        newest_first: bool = False,
    ) -> Page[TimelineEntry]:
        """The entries of any of ``client_ids`` after ``since``, oldest (or newest) first (one
        index range per client, merged by the store)."""
        ids: dict[str, Any] = {"client_id": {"$in": [*client_ids]}}
        where = [ids, {"at": {"$gt": since}}]
        return await self._page(where, cursor, limit, newest_first=newest_first)

    async def _page(
        self,
        clauses: Sequence[dict[str, Any]],
        cursor: str | None,
        limit: int,
        *,
        newest_first: bool = False,
    ) -> Page[TimelineEntry]:
        """A page of the entries ``clauses`` select, in (at, _id) order (or its reverse) from
        ``cursor``."""
        resume = after("at", cursor, descending=newest_first)
        if resume:
            clauses = [*clauses, resume]
        way = -1 if newest_first else 1
        found = (
            self.collection.find({"$and": clauses})
            .sort([("at", way), ("_id", way)])
            .limit(limit + 1)
        )
        kept, next_cursor = page_of([d async for d in found], "at", limit)
        return Page([_entry_of(d) for d in kept], next_cursor)

    async def of_person(self, person_id: str) -> tuple[Document, ...]:
        cursor = self.collection.find({"refs.person_id": person_id}).sort([("at", 1), ("_id", 1)])
        return tuple([d async for d in cursor])

    async def forget_person(self, person_id: str) -> None:
        """The entry that named the person (``person_added``) names them no more."""
        await self.collection.update_many(
            {"refs.person_id": person_id, "kind": "person_added"},
            {"$set": {"summary": f"Person added: {ERASED}"}},
        )

    async def repoint(self, *, from_client: str, to_client: str) -> None:
        await self.collection.update_many(
            {"client_id": from_client},
            {"$set": {"client_id": to_client, "merged_from": from_client}},
        )

    async def remove(self, client_ids: Sequence[str]) -> None:
        """Forget the clients' entries (a prospect deleted at the end of its retention)."""
        await self.collection.delete_many({"client_id": {"$in": list(client_ids)}})
