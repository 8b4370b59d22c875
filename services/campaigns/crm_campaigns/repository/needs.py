"""Identified needs (for the market-needs report) and facts already counted once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_kit.runtime import Runtime
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_campaigns.repository import NEEDS, NEW_CLIENTS

WRITE_CHUNK = 50


def need_docs(
    *,
    source: str,
    source_id: str,
    item_codes: Sequence[str],
    event_id: str,
    programme_id: str | None,
    client_id: str | None,
    person_id: str | None,
    field_of_activity: str | None,
    at: datetime,
) -> list[dict[str, Any]]:
    """One document per distinct item code, keyed ``<source id>:<code>``."""
    return [
        {
            "_id": f"{source_id}:{code}",
            "item_code": code,
            "source": source,
            "source_id": source_id,
            "event_id": event_id,
            "programme_id": programme_id,
            "client_id": client_id,
            "person_id": person_id,
            "field_of_activity": field_of_activity or "unknown",
            "at": at,
        }
        for code in dict.fromkeys(item_codes)
    ]


class Needs:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[NEEDS]

    async def record(
        self,
        *,
        source: str,
        source_id: str,
        item_codes: Sequence[str],
        event_id: str,
        programme_id: str | None,
        client_id: str | None,
        person_id: str | None,
        field_of_activity: str | None,
        at: datetime,
    ) -> None:
        await self.insert(
            need_docs(
                source=source,
                source_id=source_id,
                item_codes=item_codes,
                event_id=event_id,
                programme_id=programme_id,
                client_id=client_id,
                person_id=person_id,
                field_of_activity=field_of_activity,
                at=at,
            )
        )

    async def insert(self, docs: Sequence[dict[str, Any]]) -> None:
        """Insert needs in bulk writes of :data:`WRITE_CHUNK`; one already there (a redelivered
        fact) is left as it is."""
        for start in range(0, len(docs), WRITE_CHUNK):
            try:
                await self.collection.insert_many(docs[start : start + WRITE_CHUNK], ordered=False)
            except BulkWriteError as exc:  # a redelivered fact: the needs are already there
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    async def grouped(self, match: dict[str, Any], keys: Sequence[str]) -> list[dict[str, Any]]:
        """Counts per combination of ``keys`` ($group with $sum only, which FerretDB has)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {"$group": {"_id": {k: f"${k}" for k in keys}, "n": {"$sum": 1}}},
        ]
        cursor = await self.collection.aggregate(pipeline)
        return [{**row["_id"], "n": row["n"]} async for row in cursor]


async def first_time(runtime: Runtime, collection: str, key: str, doc: dict[str, Any]) -> bool:
    """Record that a fact was counted; False when it was counted before."""
    try:
        await runtime.db[collection].insert_one({"_id": key, **doc})
    except DuplicateKeyError:
        return False
    return True


async def new_client_first_time(runtime: Runtime, client_id: str, event_id: str) -> bool:
    return await first_time(runtime, NEW_CLIENTS, client_id, {"event_id": event_id})
