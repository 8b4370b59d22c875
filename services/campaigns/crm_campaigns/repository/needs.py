"""Identified needs (for the market-needs report) and facts already counted once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from crm_kit.runtime import Runtime
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_campaigns.repository import NEEDS, NEW_CLIENTS

DUPLICATE_KEY = 11000
BY_TIME = "needs_by_time"
"""The index of needs by time that also holds every field the report counts: a report over a
period, or over all time, reads only its keys."""


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
        """Insert needs in one unordered bulk insert; one already there (a redelivered fact)
        is left as it is."""
        if not docs:
            return
        try:
            await self.collection.insert_many(list(docs), ordered=False)
        except BulkWriteError as exc:  # a redelivered fact: the needs are already there
            if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                raise

    async def per_item(self, match: dict[str, Any]) -> list[dict[str, Any]]:
        """Per item code among the needs matching ``match``: its mentions, its distinct clients
        and its mentions per field of activity, in one aggregation that reads only index keys
        (each report index holds the fields counted)."""
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {
                "$facet": {
                    "mentions": [{"$group": {"_id": "$item_code", "n": {"$sum": 1}}}],
                    "clients": [
                        {"$match": {"client_id": {"$nin": [None, ""]}}},
                        {"$group": {"_id": {"item": "$item_code", "client": "$client_id"}}},
                        {"$group": {"_id": "$_id.item", "n": {"$sum": 1}}},
                    ],
                    "fields": [
                        {
                            "$group": {
                                "_id": {"item": "$item_code", "field": "$field_of_activity"},
                                "n": {"$sum": 1},
                            }
                        },
                    ],
                }
            },
        ]
        # By time unless a programme or field is asked for (their indexes lead with it); with
        # no filter at all, the whole report index, which the planner would not pick by itself.
        by_time = not ({"programme_id", "field_of_activity"} & set(match))
        if by_time:
            cursor = await self.collection.aggregate(pipeline, hint=BY_TIME)
        else:
            cursor = await self.collection.aggregate(pipeline)
        facets = await cursor.next()
        clients = {row["_id"]: row["n"] for row in facets["clients"]}
        fields: dict[str, list[dict[str, Any]]] = {}
        for row in facets["fields"]:
            fields.setdefault(row["_id"]["item"], []).append(
                {"field_of_activity": row["_id"]["field"], "mentions": row["n"]}
            )
        return [
            {
                "item_code": row["_id"],
                "mentions": row["n"],
                "distinct_clients": clients.get(row["_id"], 0),
                "by_field_of_activity": fields.get(row["_id"], []),
            }
            for row in facets["mentions"]
        ]


async def first_time(runtime: Runtime, collection: str, key: str, doc: dict[str, Any]) -> bool:
    """Record that a fact was counted; False when it was counted before."""
    try:
        await runtime.db[collection].insert_one({"_id": key, **doc})
    except DuplicateKeyError:
        return False
    return True


async def new_client_first_time(runtime: Runtime, client_id: str, event_id: str) -> bool:
    return await first_time(runtime, NEW_CLIENTS, client_id, {"event_id": event_id})
