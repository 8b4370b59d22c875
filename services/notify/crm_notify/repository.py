"""Every query of the notify service: notifications, recipient projection, event audience,
template overrides."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_kit.outbox import OUTBOX, VERSION, Document
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, CollectionInvalid, DuplicateKeyError

from crm_notify.domain import Reachability, Status
from crm_notify.templates import Template

NOTIFICATIONS = "notifications"
RECIPIENTS = "recipients"
INVITEES = "event_invitees"
TASKS = "event_tasks"
TEMPLATES = "templates"
CLAIMS = "delivery_claims"
PROCESSED = "processed_events"  # the kit's consumer markers
DUPLICATE_KEY = 11000


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    # Every collection is created here, before any concurrency: FerretDB v1 (SQLite) creates a
    # collection under a registry-wide lock while waiting for a connection, and a first insert
    # under load has deadlocked the whole server that way.
    existing = set(await db.list_collection_names())
    for name in (NOTIFICATIONS, RECIPIENTS, INVITEES, TASKS, TEMPLATES, CLAIMS, PROCESSED):
        if name not in existing:
            with contextlib.suppress(CollectionInvalid):
                await db.create_collection(name)
    n = db[NOTIFICATIONS]
    await n.create_index([("status", ASCENDING), ("next_attempt_at", ASCENDING)])
    await n.create_index([("seq", DESCENDING)])
    await n.create_index([("recipient.id", ASCENDING), ("seq", DESCENDING)])
    await n.create_index([("source.event_id", ASCENDING)])
    await db[INVITEES].create_index([("event_id", ASCENDING)])
    await db[TASKS].create_index([("event_id", ASCENDING), ("open", ASCENDING)])


def recipient_key(kind: RecipientKind | str, recipient_id: str) -> str:
    return f"{RecipientKind(kind).value}:{recipient_id}"


# --- notifications -------------------------------------------------------------------------


def new_notification(doc: Mapping[str, Any], now: datetime) -> Document:
    return {
        **doc,
        "status": Status.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease": None,
        "created_at": now,
        "seq": f"{now.isoformat()}|{doc['_id']}",
        VERSION: 1,
        OUTBOX: [],
    }


async def insert_notifications(db: AsyncDatabase[Document], docs: Sequence[Document]) -> int:
    """Insert what is new; a notification that already exists is left as it is."""
    if not docs:
        return 0
    try:
        result = await db[NOTIFICATIONS].insert_many(list(docs), ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def find_notification(db: AsyncDatabase[Document], notification_id: str) -> Document | None:
    return await db[NOTIFICATIONS].find_one({"_id": notification_id}, {OUTBOX: 0})


async def due_candidates(db: AsyncDatabase[Document], now: datetime, limit: int) -> list[Document]:
    """Notifications that are due: pending or retry whose time has come, or one whose worker's
    lease ran out (``sending`` past ``next_attempt_at``). Only ids and attempt counts."""
    due = db[NOTIFICATIONS].find(
        {
            "status": {"$in": [Status.PENDING.value, Status.RETRY.value, Status.SENDING.value]},
            "next_attempt_at": {"$lte": now},
        },
        {"_id": 1, "attempts": 1},
    )
    return [doc async for doc in due.sort("next_attempt_at", ASCENDING).limit(limit)]


async def claim(
    db: AsyncDatabase[Document],
    notification_id: str,
    attempts: int,
    now: datetime,
    lease: timedelta,
    token: str,
) -> Document | None:
    """Take attempt ``attempts + 1`` of a due notification, or ``None`` if another worker has.

    The claim itself is the insert of a ``(notification, attempt)`` marker with a unique id:
    FerretDB evaluates a ``findAndModify`` filter apart from its write, so two workers could
    both "win" it, whereas a unique ``_id`` admits exactly one (on MongoDB as well). The winner
    moves ``next_attempt_at`` to the lease's end, so a worker that dies leaves the notification
    due again when the lease runs out.
    """
    try:
        await db[CLAIMS].insert_one(
            {"_id": f"{notification_id}:{attempts}", "token": token, "at": now}
        )
    except DuplicateKeyError:
        return None
    return await db[NOTIFICATIONS].find_one_and_update(
        {"_id": notification_id},
        {
            "$set": {
                "status": Status.SENDING.value,
                "lease": token,
                "next_attempt_at": now + lease,
            },
            "$inc": {"attempts": 1},
        },
        return_document=ReturnDocument.AFTER,
    )


async def list_notifications(
    db: AsyncDatabase[Document],
    *,
    recipient: str | None,
    kind: NotificationKind | None,
    status: Status | None,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> list[Document]:
    query: dict[str, Any] = {}
    if recipient:
        query["recipient.id"] = recipient
    if kind:
        query["kind"] = kind.value
    if status:
        query["status"] = status.value
    if source:
        query["source.event_id"] = source
    period: dict[str, Any] = {}
    if since:
        period["$gte"] = since
    if until:
        period["$lt"] = until
    if period:
        query["created_at"] = period
    if after:
        query["seq"] = {"$lt": after}
    cursor = db[NOTIFICATIONS].find(query, {OUTBOX: 0}).sort("seq", DESCENDING).limit(limit)
    return [doc async for doc in cursor]


# --- recipients projection -----------------------------------------------------------------


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
        {"_id": key, "$or": [{f"{field}.at": {"$lt": at}}, {field: {"$exists": False}}]},
        {"$set": {field: {"granted": granted, "at": at}}},
    )


async def reachability(db: AsyncDatabase[Document], key: str) -> Reachability | None:
    doc = await db[RECIPIENTS].find_one({"_id": key})
    if doc is None:
        return None
    return Reachability(
        kind=RecipientKind(doc["kind"]),
        name=doc["name"],
        language=Language(doc["language"]),
        addresses={Channel(c): a for c, a in (doc.get("channels") or {}).items() if a},
        preferred=Channel(doc["preferred"]) if doc.get("preferred") else None,
        consents={Channel(c): bool(v["granted"]) for c, v in (doc.get("consents") or {}).items()},
        active=bool(doc.get("active", True)),
    )


async def recipient_doc(db: AsyncDatabase[Document], key: str) -> Document | None:
    return await db[RECIPIENTS].find_one({"_id": key})


# --- event audience projection -------------------------------------------------------------


async def remember_invitee(
    db: AsyncDatabase[Document], event_id: str, participant_id: str, recipient: Document
) -> None:
    await db[INVITEES].update_one(
        {"_id": f"{event_id}:{participant_id}"},
        {"$set": {"event_id": event_id, "recipient": recipient}},
        upsert=True,
    )


async def remember_task(
    db: AsyncDatabase[Document],
    event_id: str,
    task_id: str,
    event_title: str,
    assignee_id: str | None,
) -> None:
    await db[TASKS].update_one(
        {"_id": task_id},
        {
            "$set": {
                "event_id": event_id,
                "event_title": event_title,
                "assignee_id": assignee_id,
                "open": True,
            }
        },
        upsert=True,
    )


async def close_task(db: AsyncDatabase[Document], task_id: str) -> Document | None:
    return await db[TASKS].find_one_and_update({"_id": task_id}, {"$set": {"open": False}})


async def event_audience(db: AsyncDatabase[Document], event_id: str) -> list[Document]:
    """Invited participants and open-task assignees of an event, each recipient once."""
    seen: set[str] = set()
    audience: list[Document] = []
    async for doc in db[INVITEES].find({"event_id": event_id}).sort("_id", ASCENDING):
        recipient = doc["recipient"]
        key = recipient_key(recipient["kind"], recipient["id"])
        if key not in seen:
            seen.add(key)
            audience.append(recipient)
    tasks = db[TASKS].find({"event_id": event_id, "open": True}).sort("_id", ASCENDING)
    async for doc in tasks:
        if doc.get("assignee_id"):
            key = recipient_key(RecipientKind.EMPLOYEE, doc["assignee_id"])
            if key not in seen:
                seen.add(key)
                audience.append({"kind": RecipientKind.EMPLOYEE.value, "id": doc["assignee_id"]})
    return audience


# --- templates -----------------------------------------------------------------------------


def template_key(kind: NotificationKind, language: Language) -> str:
    return f"{kind.value}:{language.value}"


async def template_override(
    db: AsyncDatabase[Document], kind: NotificationKind, language: Language
) -> Document | None:
    return await db[TEMPLATES].find_one({"_id": template_key(kind, language)})


async def template_overrides(db: AsyncDatabase[Document]) -> dict[str, Document]:
    return {doc["_id"]: doc async for doc in db[TEMPLATES].find({})}


async def save_template(
    db: AsyncDatabase[Document],
    kind: NotificationKind,
    language: Language,
    template: Template,
    *,
    by: str,
    at: datetime,
) -> Document:
    doc = await db[TEMPLATES].find_one_and_update(
        {"_id": template_key(kind, language)},
        {
            "$set": {
                "kind": kind.value,
                "language": language.value,
                "subject": template.subject,
                "text": template.text,
                "html": template.html,
                "updated_by": by,
                "updated_at": at,
            },
            "$inc": {"version": 1},
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    return doc


async def delete_template(
    db: AsyncDatabase[Document], kind: NotificationKind, language: Language
) -> bool:
    result = await db[TEMPLATES].delete_one({"_id": template_key(kind, language)})
    return result.deleted_count == 1
