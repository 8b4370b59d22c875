"""Every query of the notify service: notifications, recipient projection, event audience,
template overrides."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_kit.outbox import OUTBOX, VERSION, Document
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
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
    await n.create_index(
        [("status", ASCENDING), ("attempts", ASCENDING), ("next_attempt_at", ASCENDING)]
    )
    await n.create_index([("seq", DESCENDING)])
    await n.create_index([("recipient.id", ASCENDING), ("seq", DESCENDING)])
    await n.create_index([("source.event_id", ASCENDING)])
    await n.create_index([("event_id", ASCENDING), ("kind", ASCENDING)])
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


WRITE_CHUNK = 50
"""Statements per bulk command: FerretDB v1 holds a pooled connection per statement until the
command ends and deadlocks past about 100 (docs/decisions/0002)."""

FRESH = (Status.PENDING.value,)
RETRYING = (Status.RETRY.value, Status.SENDING.value)


async def due_in_lane(
    db: AsyncDatabase[Document], statuses: Sequence[str], now: datetime, limit: int
) -> list[Document]:
    """Due notifications (without their outbox) whose status is one of ``statuses``, fewest
    attempts first, then longest waiting: ``FRESH`` (never tried) before ``RETRYING`` (waiting
    for a retry, or left by a worker whose lease ran out: ``sending`` past ``next_attempt_at``).
    """
    if limit <= 0:
        return []
    status: Any = statuses[0] if len(statuses) == 1 else {"$in": list(statuses)}
    due = (
        db[NOTIFICATIONS]
        .find({"status": status, "next_attempt_at": {"$lte": now}}, {OUTBOX: 0})
        .sort([("attempts", ASCENDING), ("next_attempt_at", ASCENDING)])
        .limit(limit)
    )
    return [doc async for doc in due]


async def due_candidates(
    db: AsyncDatabase[Document], now: datetime, limit: int, retry_share: float = 0.25
) -> list[Document]:
    """One batch of due notifications in which fresh ones never queue behind retries.

    One query, never-tried notifications first; only when fresh ones fill the whole batch does
    a second query give retries their reserved ``retry_share`` of it, so a flood of fresh work
    does not starve retries either. On FerretDB each query is a scan of the collection, so the
    common case costs one."""
    due = await due_in_lane(db, FRESH + RETRYING, now, limit)
    if len(due) < limit or int(due[-1]["attempts"]) > 0:
        return due
    retries = await due_in_lane(db, RETRYING, now, max(1, int(limit * retry_share)))
    return due[: limit - len(retries)] + retries


async def claim_batch(
    db: AsyncDatabase[Document],
    candidates: Sequence[Document],
    now: datetime,
    lease: timedelta,
    token: str,
) -> list[Document]:
    """Take the next attempt of each candidate that no other worker took; returns the taken
    notifications as they are after the claim.

    A claim is the insert of a ``(notification, attempt)`` marker with a unique id: FerretDB
    evaluates a ``findAndModify`` filter apart from its write, so two workers could both "win"
    it, whereas a unique ``_id`` admits exactly one (on MongoDB as well). The winner then moves
    the notification to ``sending`` under its lease token, guarded by the attempt count it saw
    (a stale candidate changes nothing), and ``next_attempt_at`` to the lease's end, so a worker
    that dies leaves the notification due again when the lease runs out. Each step is one bulk
    command per ``WRITE_CHUNK``; the taken documents are read back only when a guard refused.
    """
    won: list[Document] = []
    for start in range(0, len(candidates), WRITE_CHUNK):
        chunk = candidates[start : start + WRITE_CHUNK]
        marks = [{"_id": f"{d['_id']}:{d['attempts']}", "token": token, "at": now} for d in chunk]
        lost: set[int] = set()
        try:
            await db[CLAIMS].insert_many(marks, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            lost = {int(e["index"]) for e in errors}
        won.extend(d for i, d in enumerate(chunk) if i not in lost)
    if not won:
        return []
    claimed = {
        "status": Status.SENDING.value,
        "lease": token,
        "next_attempt_at": now + lease,
        "claimed_at": now,
    }
    matched = 0
    for start in range(0, len(won), WRITE_CHUNK):
        result = await db[NOTIFICATIONS].bulk_write(
            [
                UpdateOne(
                    {"_id": d["_id"], "attempts": d["attempts"]},
                    {"$set": claimed, "$inc": {"attempts": 1}},
                )
                for d in won[start : start + WRITE_CHUNK]
            ],
            ordered=False,
        )
        matched += result.matched_count
    if matched == len(won):
        return [{**d, **claimed, "attempts": int(d["attempts"]) + 1} for d in won]
    return await held(db, [str(d["_id"]) for d in won], token, full=True)


async def held(
    db: AsyncDatabase[Document], ids: Sequence[str], token: str, *, full: bool = False
) -> list[Document]:
    """The notifications among ``ids`` that are still leased with ``token``: one lookup by
    ``_id`` each, sent together (FerretDB scans the whole collection for an ``_id $in``)."""
    projection: dict[str, int] = {OUTBOX: 0} if full else {"_id": 1}
    found = await asyncio.gather(
        *(db[NOTIFICATIONS].find_one({"_id": i, "lease": token}, projection) for i in ids)
    )
    return [doc for doc in found if doc is not None]


async def renew_leases(
    db: AsyncDatabase[Document], ids: Sequence[str], token: str, until: datetime
) -> set[str]:
    """Extend the lease of the notifications a worker still holds; returns those it holds."""
    if not ids:
        return set()
    result = await db[NOTIFICATIONS].update_many(
        {"_id": {"$in": list(ids)}, "lease": token}, {"$set": {"next_attempt_at": until}}
    )
    if result.matched_count == len(ids):
        return set(ids)
    return {str(doc["_id"]) for doc in await held(db, ids, token)}


async def settle(db: AsyncDatabase[Document], outcomes: Sequence[UpdateOne]) -> int:
    """Write outcomes (each guarded by its lease) in bulk commands; returns how many held."""
    matched = 0
    for start in range(0, len(outcomes), WRITE_CHUNK):
        result = await db[NOTIFICATIONS].bulk_write(
            list(outcomes[start : start + WRITE_CHUNK]), ordered=False
        )
        matched += result.matched_count
    return matched


async def purge_claims(
    db: AsyncDatabase[Document], before: datetime, chunk: int = WRITE_CHUNK
) -> int:
    """Delete claim markers made before ``before``, ``chunk`` at a time; returns how many.

    Safe once the claim is older than any scan-to-claim gap: a notification's attempt count
    has moved past the claimed attempt, and a stale claim would fail the attempt guard of
    :func:`claim_batch` anyway."""
    deleted = 0
    while True:
        old = db[CLAIMS].find({"at": {"$lt": before}}, {"_id": 1}).limit(chunk)
        ids = [doc["_id"] async for doc in old]
        if not ids:
            return deleted
        result = await db[CLAIMS].delete_many({"_id": {"$in": ids}, "at": {"$lt": before}})
        deleted += result.deleted_count
        if len(ids) < chunk:
            return deleted


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
    return None if doc is None else _reachability(doc)


async def reachabilities(
    db: AsyncDatabase[Document], keys: Sequence[str]
) -> dict[str, Reachability]:
    """The projection's state of several recipients, by key: one lookup by ``_id`` each, sent
    together (FerretDB scans the whole collection for an ``_id $in``; reads run side by side)."""
    unique = sorted(set(keys))
    found = await asyncio.gather(*(db[RECIPIENTS].find_one({"_id": k}) for k in unique))
    return {k: _reachability(doc) for k, doc in zip(unique, found, strict=True) if doc}


def _reachability(doc: Document) -> Reachability:
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
    """Invited participants and open-task assignees of an event, each recipient once.

    Who was invited is read from the event's invitation notifications themselves (one write
    per invitation instead of two); ``event_invitees`` is still read for invitations recorded
    before that."""
    seen: set[str] = set()
    audience: list[Document] = []
    invited = db[NOTIFICATIONS].find(
        {"event_id": event_id, "kind": NotificationKind.INVITATION.value}, {"recipient": 1}
    )
    legacy = db[INVITEES].find({"event_id": event_id}, {"recipient": 1})
    for cursor in (invited, legacy):
        async for doc in cursor.sort("_id", ASCENDING):
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
