"""Projections of contacts' people (with consent per channel) and employees, and of the
proposals' catalogue. Each state-carrying event replaces the copy only when newer; consent
per channel only when its ``at`` is newer, so redelivery and replay change nothing."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from datetime import datetime
from typing import Any

from crm_contracts.common import ChannelConsent
from crm_contracts.contacts import (
    ConsentChanged,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.envelope import Envelope
from crm_contracts.proposals import CatalogItemChanged
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

PEOPLE = "people_projection"
EMPLOYEES = "employee_projection"
CATALOG = "catalog_projection"


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await db[PEOPLE].create_index([("client_id", 1), ("_id", 1)])


async def _replace_if_newer(
    collection: AsyncCollection[Document], key: str, version: int, fields: dict[str, Any]
) -> None:
    # A copy made by an earlier consent fact has no version yet: it is older than any.
    with contextlib.suppress(DuplicateKeyError):
        await collection.update_one(
            {"_id": key, "$or": [{"version": {"$lt": version}}, {"version": {"$exists": False}}]},
            {"$set": {**fields, "version": version}},
            upsert=True,
        )


async def _consent(
    db: AsyncDatabase[Document],
    person_id: str,
    client_id: str,
    channel: str,
    granted: bool,
    at: datetime,
) -> None:
    path = f"consents.{channel}"
    change: dict[str, Any] = {
        "$set": {path: {"granted": granted, "at": at}, "client_id": client_id},
        ("$addToSet" if granted else "$pull"): {"consented": channel},
    }
    with contextlib.suppress(DuplicateKeyError):
        # An erased person's copy takes no consent any more (the upsert then meets its id).
        await db[PEOPLE].update_one(
            {
                "_id": person_id,
                "erased_at": {"$exists": False},
                "$or": [{f"{path}.at": {"$lt": at}}, {path: {"$exists": False}}],
            },
            change,
            upsert=True,
        )


def _person(event: PersonAdded | PersonUpdated) -> dict[str, Any]:
    return {
        "client_id": event.client_id,
        "name": event.name,
        "position": event.position,
        "language": event.language.value,
        "channels": event.channels.model_dump(mode="json", exclude_none=True),
        "preferred_channel": event.preferred_channel.value if event.preferred_channel else None,
    }


async def _consents(rt: Runtime, event: PersonAdded, consents: Iterable[ChannelConsent]) -> None:
    for consent in consents:
        await _consent(
            rt.db,
            event.person_id,
            event.client_id,
            consent.channel.value,
            consent.granted,
            consent.at,
        )


async def on_person_added(rt: Runtime, event: PersonAdded, _: Envelope) -> None:
    await _replace_if_newer(rt.db[PEOPLE], event.person_id, event.version, _person(event))
    await _consents(rt, event, event.consents)


async def on_person_updated(rt: Runtime, event: PersonUpdated, _: Envelope) -> None:
    await _replace_if_newer(rt.db[PEOPLE], event.person_id, event.version, _person(event))


async def on_consent_changed(rt: Runtime, event: ConsentChanged, _: Envelope) -> None:
    await _consent(
        rt.db, event.person_id, event.client_id, event.channel.value, event.granted, event.at
    )


def _employee(event: EmployeeRegistered | EmployeeUpdated) -> dict[str, Any]:
    return {
        "name": event.name,
        "department": event.department.value,
        "role": event.role,
        "language": event.language.value,
        "channels": event.channels.model_dump(mode="json", exclude_none=True),
        "preferred_channel": event.preferred_channel.value if event.preferred_channel else None,
        "active": event.active,
    }


async def on_employee_registered(rt: Runtime, event: EmployeeRegistered, _: Envelope) -> None:
    await _replace_if_newer(rt.db[EMPLOYEES], event.employee_id, event.version, _employee(event))


async def on_employee_updated(rt: Runtime, event: EmployeeUpdated, _: Envelope) -> None:
    await _replace_if_newer(rt.db[EMPLOYEES], event.employee_id, event.version, _employee(event))


async def on_catalog_item_changed(rt: Runtime, event: CatalogItemChanged, _: Envelope) -> None:
    await _replace_if_newer(
        rt.db[CATALOG],
        event.code,
        event.version,
        {"name": event.name, "kind": event.kind.value, "active": event.active},
    )


async def people(db: AsyncDatabase[Document], ids: list[str]) -> dict[str, Document]:
    if not ids:
        return {}
    found = db[PEOPLE].find({"_id": {"$in": ids}})
    return {d["_id"]: d async for d in found}


async def employees(db: AsyncDatabase[Document], ids: list[str]) -> dict[str, Document]:
    if not ids:
        return {}
    return {d["_id"]: d async for d in db[EMPLOYEES].find({"_id": {"$in": ids}})}


async def catalog_names(db: AsyncDatabase[Document], codes: Iterable[str]) -> dict[str, str]:
    """The catalogue names of ``codes`` that are known."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    found = db[CATALOG].find({"_id": {"$in": wanted}}, {"name": 1})
    return {d["_id"]: str(d.get("name") or d["_id"]) async for d in found}


async def consenting_people(
    db: AsyncDatabase[Document], client_ids: list[str], batch: int
) -> AsyncIterator[list[Document]]:
    """People of these clients who agreed to be contacted on at least one channel, in groups
    of ``batch``: one read through the (client, id) index, in that order."""
    if not client_ids:
        return
    query = {
        "client_id": {"$in": sorted(set(client_ids))},
        "consented.0": {"$exists": True},
        "name": {"$exists": True},
    }
    group: list[Document] = []
    async for person in db[PEOPLE].find(query).sort([("client_id", 1), ("_id", 1)]):
        group.append(person)
        if len(group) == batch:
            yield group
            group = []
    if group:
        yield group
