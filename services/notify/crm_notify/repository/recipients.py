"""The projection of people and employees notify delivers to: addresses, language, preferred
channel, consent per channel."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.values import Channel, Language, RecipientKind
from crm_kit.outbox import Document
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_notify.domain import Reachability, Status
from crm_notify.repository import NOTIFICATIONS, RECIPIENTS, recipient_key
from crm_notify.repository.notifications import LOG_INDEX, LOG_KEYS, recipient_log_key


async def upsert_recipient_state(
    db: AsyncDatabase[Document], key: str, state: Mapping[str, Any], version: int
) -> None:
    """Replace the projected state when ``version`` is newer than what is held."""
    with contextlib.suppress(DuplicateKeyError):
        await db[RECIPIENTS].update_one(
            {"_id": key, "version": {"$lt": version}},
            {"$set": {**state, "version": version}},
            upsert=True,
        )


async def forget_people(db: AsyncDatabase[Document], person_ids: Sequence[str]) -> None:
    """Delete the people (a prospect deleted at the end of its retention in contacts) and
    the settled notifications sent to them; one still waiting fails as an unknown recipient."""
    if not person_ids:
        return
    # The log first: while the person is still projected, their log may not be gone yet.
    await db[NOTIFICATIONS].delete_many(
        {
            LOG_KEYS: {"$in": [recipient_log_key(p) for p in person_ids]},
            "recipient.kind": RecipientKind.PERSON.value,
            "status": {"$in": [Status.DELIVERED.value, Status.FAILED.value]},
        },
        hint=LOG_INDEX,  # their keys, not every settled notification's status
    )
    await db[RECIPIENTS].delete_many(
        {"_id": {"$in": [recipient_key(RecipientKind.PERSON, p) for p in person_ids]}}
    )


async def set_consents(
    db: AsyncDatabase[Document], key: str, consents: Mapping[Channel, tuple[bool, datetime]]
) -> None:
    """Record consents given at registration, unless a later change is already held."""
    for channel, (granted, at) in consents.items():
        await set_consent(db, key, channel, granted, at)


async def set_consent(
    db: AsyncDatabase[Document], key: str, channel: Channel, granted: bool, at: datetime
) -> None:
    field = f"consents.{channel.value}"
    await db[RECIPIENTS].update_one(
        {
            "_id": key,
            "erased_at": {"$exists": False},  # an erased person takes no consent any more
            "$or": [{f"{field}.at": {"$lt": at}}, {field: {"$exists": False}}],
        },
        {"$set": {field: {"granted": granted, "at": at}}},
    )


async def reachability(db: AsyncDatabase[Document], key: str) -> Reachability | None:
    doc = await db[RECIPIENTS].find_one({"_id": key})
    return None if doc is None else _reachability(doc)


async def reachabilities(
    db: AsyncDatabase[Document], keys: Sequence[str]
) -> dict[str, Reachability]:
    """The projection's state of several recipients, by key (one ``_id $in`` read)."""
    if not keys:
        return {}
    cursor = db[RECIPIENTS].find({"_id": {"$in": sorted(set(keys))}})
    return {str(doc["_id"]): _reachability(doc) async for doc in cursor}


def _reachability(doc: Document) -> Reachability:
    return Reachability(
        kind=RecipientKind(doc["kind"]),
        name=doc["name"],
        language=Language(doc["language"]),
        addresses={Channel(c): a for c, a in (doc.get("channels") or {}).items() if a},
        preferred=Channel(doc["preferred"]) if doc.get("preferred") else None,
        consents={Channel(c): bool(v["granted"]) for c, v in (doc.get("consents") or {}).items()},
        active=bool(doc.get("active", True)),
        client_id=doc.get("client_id"),
    )


async def recipient_doc(db: AsyncDatabase[Document], key: str) -> Document | None:
    return await db[RECIPIENTS].find_one({"_id": key})


async def withdraw_for_unsubscribe(
    db: AsyncDatabase[Document],
    key: str,
    channel: Channel,
    at: datetime,
    session: AsyncClientSession,
) -> bool:
    """Record at once that the person unsubscribed from ``channel`` (contacts' consent change
    follows through the topics); ``False`` when it was withdrawn already."""
    field = f"consents.{channel.value}"
    doc = await db[RECIPIENTS].find_one({"_id": key}, {field: 1}, session=session)
    if (
        doc is not None
        and (doc.get("consents") or {}).get(channel.value, {}).get("granted") is False
    ):
        return False
    if doc is not None:
        await db[RECIPIENTS].update_one(
            {"_id": key},
            {"$set": {field: {"granted": False, "at": at, "source": "unsubscribe_link"}}},
            session=session,
        )
    return True


async def recipient_language(db: AsyncDatabase[Document], key: str) -> Language | None:
    doc = await db[RECIPIENTS].find_one({"_id": key}, {"language": 1})
    return Language(doc["language"]) if doc and doc.get("language") else None
