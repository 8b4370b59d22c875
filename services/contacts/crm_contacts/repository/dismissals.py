"""Pairs of clients someone judged not to be duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo.errors import DuplicateKeyError

from crm_contacts.repository.pagination import Page, after, page_of

DISMISSALS = "duplicate_dismissals"


def pair_id(first: str, second: str) -> str:
    """One id per unordered pair."""
    a, b = sorted((first, second))
    return f"{a}|{b}"


@dataclass(frozen=True)
class Dismissal:
    client_ids: tuple[str, str]
    reasons: tuple[str, ...]
    """What the pair shared when it was dismissed; a new shared key lists it again."""
    note: str | None
    dismissed_at: datetime
    dismissed_by: str | None

    @property
    def pair_id(self) -> str:
        return pair_id(*self.client_ids)


def _doc(d: Dismissal) -> Document:
    return {
        "_id": d.pair_id,
        "client_ids": list(d.client_ids),
        "reasons": list(d.reasons),
        "note": d.note,
        "dismissed_at": d.dismissed_at,
        "dismissed_by": d.dismissed_by,
    }


def _of(doc: Document) -> Dismissal:
    first, second = doc["client_ids"]
    return Dismissal(
        client_ids=(first, second),
        reasons=tuple(doc.get("reasons", ())),
        note=doc.get("note"),
        dismissed_at=doc["dismissed_at"],
        dismissed_by=doc.get("dismissed_by"),
    )


class DismissalRepository:
    """No other service needs to know, so a dismissal is a plain record without an event."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[DISMISSALS]

    async def add(self, dismissal: Dismissal) -> tuple[Dismissal, bool]:
        """Store ``dismissal``; a pair dismissed before keeps its first record (``False``)."""
        try:
            await self.collection.insert_one(_doc(dismissal))
        except DuplicateKeyError:
            existing = await self.collection.find_one({"_id": dismissal.pair_id})
            if existing is None:  # pragma: no cover - removed meanwhile; nothing removes them
                raise
            return _of(existing), False
        return dismissal, True

    async def of_pairs(self, pair_ids: Sequence[str]) -> dict[str, Dismissal]:
        """The dismissals among ``pair_ids`` (few: the likely pairs of the moment)."""
        if not pair_ids:
            return {}
        cursor = self.collection.find({"_id": {"$in": list(pair_ids)}})
        return {d["_id"]: _of(d) async for d in cursor}

    async def list(self, *, cursor: str | None, limit: int) -> Page[Dismissal]:
        found = (
            self.collection.find(after("dismissed_at", cursor))
            .sort([("dismissed_at", 1), ("_id", 1)])
            .limit(limit + 1)
        )
        kept, next_cursor = page_of([d async for d in found], "dismissed_at", limit)
        return Page([_of(d) for d in kept], next_cursor)
