"""Read models campaigns keeps of other services' facts.

The client projection holds each client's portrait (status, field of activity, region, size,
tags), the fields participant selection filters on. A state-carrying event replaces the copy
only when its version is newer, so redelivered or replayed events change nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from crm_contracts.contacts import (
    ClientExpired,
    ClientRegistered,
    ClientStatusChanged,
    ClientUpdated,
)
from crm_contracts.envelope import Envelope
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_campaigns.domain.programmes import Portrait

CLIENTS = "client_projection"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    from crm_campaigns.projections import people

    await people.create_indexes(db)
    # A portrait filters on any of these; the planner takes the most selective one.
    await db[CLIENTS].create_index([("status", 1), ("region", 1)])
    await db[CLIENTS].create_index("field_of_activity")
    await db[CLIENTS].create_index("region")
    await db[CLIENTS].create_index("size")
    await db[CLIENTS].create_index("tags")


async def _replace_if_newer(
    collection: AsyncCollection[Document], key: str, version: int, fields: dict[str, Any]
) -> None:
    # The upsert's filter misses when a newer (or the same) version is stored; the insert it
    # then tries collides on _id, which is exactly "already up to date".
    with contextlib.suppress(DuplicateKeyError):
        await collection.update_one(
            {"_id": key, "version": {"$lt": version}},
            {"$set": {**fields, "version": version}},
            upsert=True,
        )


def _portrait(event: ClientRegistered | ClientUpdated) -> dict[str, Any]:
    return {
        "name": event.name,
        "kind": event.kind.value,
        "status": event.status.value,
        "field_of_activity": event.field_of_activity.code if event.field_of_activity else None,
        "region": event.region,
        "size": event.size.value if event.size else None,
        "tags": list(event.tags),
        "country": event.country,
    }


async def on_client_registered(rt: Runtime, event: ClientRegistered, _: Envelope) -> None:
    await _replace_if_newer(rt.db[CLIENTS], event.client_id, event.version, _portrait(event))


async def on_client_updated(rt: Runtime, event: ClientUpdated, _: Envelope) -> None:
    await _replace_if_newer(rt.db[CLIENTS], event.client_id, event.version, _portrait(event))


async def on_client_status_changed(rt: Runtime, event: ClientStatusChanged, _: Envelope) -> None:
    await _replace_if_newer(
        rt.db[CLIENTS], event.client_id, event.version, {"status": event.to_status.value}
    )


async def on_client_expired(rt: Runtime, event: ClientExpired, _: Envelope) -> None:
    """A prospect contacts deleted at the end of its retention: its portrait and its people
    go (people of clients merged into it were moved to it by then)."""
    from crm_campaigns.projections.people import PEOPLE

    ids = [event.client_id, *event.merged_client_ids]
    await rt.db[PEOPLE].delete_many({"client_id": {"$in": ids}})
    await rt.db[CLIENTS].delete_many({"_id": {"$in": ids}})


async def matching_clients(
    db: AsyncDatabase[Document], query: dict[str, Any]
) -> AsyncIterator[Document]:
    """The ids of the clients matching a portrait's ``query``; an empty portrait asks for every
    client, read from the ``_id`` index alone."""
    found = db[CLIENTS].find(query, {"_id": 1})
    async for doc in found if query else found.sort("_id", 1):
        yield doc


async def get_client(db: AsyncDatabase[Document], client_id: str) -> Document | None:
    return await db[CLIENTS].find_one({"_id": client_id})


def portrait_query(portrait: Portrait) -> dict[str, Any]:
    """The client-projection filter of a programme's portrait."""
    query: dict[str, Any] = {}
    if portrait.statuses:
        query["status"] = {"$in": list(portrait.statuses)}
    if portrait.field_of_activity_codes:
        query["field_of_activity"] = {"$in": list(portrait.field_of_activity_codes)}
    if portrait.regions:
        query["region"] = {"$in": list(portrait.regions)}
    if portrait.sizes:
        query["size"] = {"$in": list(portrait.sizes)}
    if portrait.tags:
        query["tags"] = {"$in": list(portrait.tags)}
    return query


async def client_statuses(db: AsyncDatabase[Document], ids: list[str]) -> dict[str, str]:
    found = db[CLIENTS].find({"_id": {"$in": ids}}, {"status": 1})
    return {d["_id"]: str(d.get("status")) async for d in found}
