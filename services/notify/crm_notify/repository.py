"""Every query of the notify service: notifications, recipient projection, event audience,
template overrides."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_kit.outbox import VERSION, Document
from crm_kit.runtime import Runtime
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from crm_notify.domain import Reachability, Status
from crm_notify.templates import Template

NOTIFICATIONS = "notifications"
RECIPIENTS = "recipients"
INVITEES = "event_invitees"
TASKS = "event_tasks"
TEMPLATES = "templates"
DUPLICATE_KEY = 11000
READS_ALL = "reads the whole collection by design"
"""The comment on a query whose answer is every document of a small collection (the template
overrides): the one kind of query no index narrows."""


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    n = db[NOTIFICATIONS]
    # Due work: never-tried ones (pending, attempt 0) in due order, and retries or expired
    # leases (retry, sending) fewest attempts first; both ranges end at "now".
    await n.create_index(
        [("status", ASCENDING), ("attempts", ASCENDING), ("next_attempt_at", ASCENDING)]
    )
    # The log, newest first, whole or by one filter; the others narrow what these read.
    await n.create_index([("seq", DESCENDING)])
    for field in ("recipient.id", "kind", "status", "source.event_id"):
        await n.create_index([(field, ASCENDING), ("seq", DESCENDING)])
    # An event's invitations, its audience when it moves or is cancelled.
    await n.create_index([("event_id", ASCENDING), ("kind", ASCENDING), ("_id", ASCENDING)])
    await db[INVITEES].create_index([("event_id", ASCENDING), ("_id", ASCENDING)])
    await db[TASKS].create_index([("event_id", ASCENDING), ("open", ASCENDING), ("_id", ASCENDING)])


def recipient_key(kind: RecipientKind | str, recipient_id: str) -> str:
    return f"{RecipientKind(kind).value}:{recipient_id}"


# --- notifications -------------------------------------------------------------------------

WAITING = (Status.PENDING.value, Status.RETRY.value, Status.SENDING.value)
FINAL = (Status.DELIVERED.value, Status.FAILED.value)
RETRIED = (Status.RETRY.value, Status.SENDING.value)
"""Tried before: waiting for a retry, or claimed (``sending``) until its lease runs out."""


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
    }


async def _insert_new(db: AsyncDatabase[Document], name: str, docs: Sequence[Document]) -> int:
    """Insert what is new in one unordered command; a document whose ``_id`` is already there
    is left as it is (a duplicate key is "already there", any other error is raised)."""
    if not docs:
        return 0
    try:
        result = await db[name].insert_many(list(docs), ordered=False)
        return len(result.inserted_ids)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def insert_notifications(db: AsyncDatabase[Document], docs: Sequence[Document]) -> int:
    """Insert what is new in one unordered command; a notification that already exists (a
    redelivered request) is left as it is. Returns how many were new."""
    return await _insert_new(db, NOTIFICATIONS, docs)


async def find_notification(db: AsyncDatabase[Document], notification_id: str) -> Document | None:
    return await db[NOTIFICATIONS].find_one({"_id": notification_id})


async def notifications_by_id(
    db: AsyncDatabase[Document], ids: Sequence[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Document]:
    """The notifications among ``ids`` that also match ``extra``, by id (one ``_id $in``)."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    cursor = db[NOTIFICATIONS].find({"_id": {"$in": wanted}, **(extra or {})})
    return {str(doc["_id"]): doc async for doc in cursor}


async def due_notifications(
    db: AsyncDatabase[Document], now: datetime, limit: int, retry_share: float = 0.25
) -> list[Document]:
    """One batch of notifications due now, in which fresh ones never queue behind retries.

    Never-tried notifications first, in the order they became due. When they do not fill the
    batch, the retries (and claims whose lease ran out) fill the rest, fewest attempts first;
    when they do, the retries still get their ``retry_share`` of it, so a flood of fresh work
    does not starve them either. Both reads are index ranges that stop at the batch."""
    if limit <= 0:
        return []
    due = {"$lte": now}
    fresh = (
        await db[NOTIFICATIONS]
        .find({"status": Status.PENDING.value, "attempts": 0, "next_attempt_at": due})
        .sort("next_attempt_at", ASCENDING)
        .limit(limit)
        .to_list()
    )
    share = limit - len(fresh) if len(fresh) < limit else max(1, int(limit * retry_share))
    retries = (
        await db[NOTIFICATIONS]
        .find({"status": {"$in": list(RETRIED)}, "next_attempt_at": due})
        .sort([("attempts", ASCENDING), ("next_attempt_at", ASCENDING)])
        .limit(share)
        .to_list()
    )
    return fresh[: limit - len(retries)] + retries


async def claim_batch(
    db: AsyncDatabase[Document],
    candidates: Sequence[Document],
    now: datetime,
    lease: timedelta,
    token: str,
) -> list[Document]:
    """Take the next attempt of each candidate that no other worker took; returns the taken
    notifications as they are after the claim.

    One bulk command of single-document updates, each guarded by what the candidate was read
    as (its attempt count, a waiting status, due by now): each update is atomic, so of the
    workers racing for one attempt exactly one matches, and a stale candidate changes nothing.
    The winner moves the notification to ``sending`` under its lease token and
    ``next_attempt_at`` to the lease's end, so a worker that dies leaves it due again when the
    lease runs out. The taken documents are read back only when a guard refused."""
    if not candidates:
        return []
    claimed = {
        "status": Status.SENDING.value,
        "lease": token,
        "next_attempt_at": now + lease,
        "claimed_at": now,
    }
    ops = [
        UpdateOne(
            {
                "_id": d["_id"],
                "attempts": d["attempts"],
                "status": {"$in": list(WAITING)},
                "next_attempt_at": {"$lte": now},
            },
            {"$set": claimed, "$inc": {"attempts": 1}},
        )
        for d in candidates
    ]
    result = await db[NOTIFICATIONS].bulk_write(ops, ordered=False)
    if result.modified_count == len(ops):
        return [{**d, **claimed, "attempts": int(d["attempts"]) + 1} for d in candidates]
    return await held(db, [str(d["_id"]) for d in candidates], token, full=True)


async def held(
    db: AsyncDatabase[Document], ids: Sequence[str], token: str, *, full: bool = False
) -> list[Document]:
    """The notifications among ``ids`` that are still leased with ``token``."""
    found = await notifications_by_id(db, ids, {"lease": token})
    if full:
        return list(found.values())
    return [{"_id": doc["_id"]} for doc in found.values()]


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
        kept = set(ids)
    else:
        kept = {str(doc["_id"]) for doc in await held(db, ids, token)}
    return kept


async def settle(
    runtime: Runtime, token: str, outcomes: Sequence[tuple[str, UpdateOne, Sequence[Document]]]
) -> set[str]:
    """Write the outcomes of the notifications still held under ``token`` (lease-guarded
    updates) and their events, in one transaction; returns the ids written."""
    notifications = runtime.db[NOTIFICATIONS]

    async def work(session: AsyncClientSession) -> set[str]:
        ids = [nid for nid, _, _ in outcomes]
        still = notifications.find(
            {"_id": {"$in": ids}, "lease": token}, {"_id": 1}, session=session
        )
        held = {str(d["_id"]) async for d in still}
        ops = [op for nid, op, _ in outcomes if nid in held]
        if ops:
            await notifications.bulk_write(ops, ordered=False, session=session)
        entries = [e for nid, _, events in outcomes if nid in held for e in events]
        await runtime.events.add(session, entries)
        return held

    return await runtime.events.transaction(work)


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
    # ``seq`` starts with the creation time in UTC (ISO 8601, which sorts as the time does), so
    # a period is a range of it, read from the same index as the order; the cursor is one too.
    seq: dict[str, Any] = {}
    period: dict[str, Any] = {}
    if since:
        period["$gte"] = since
        seq["$gte"] = _utc_iso(since)
    uppers = [bound for bound in (after, _utc_iso(until) if until else None) if bound]
    if until:
        period["$lt"] = until
    if uppers:
        seq["$lt"] = min(uppers)
    if period:
        query["created_at"] = period
    if seq:
        query["seq"] = seq
    cursor = db[NOTIFICATIONS].find(query).sort("seq", DESCENDING).limit(limit)
    return [doc async for doc in cursor]


def _utc_iso(at: datetime) -> str:
    """``at`` as the start of a ``seq`` (a time without a zone is taken as UTC)."""
    return (at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)).isoformat()


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
    """Every edited template (one per kind and language at most)."""
    return {doc["_id"]: doc async for doc in db[TEMPLATES].find({}, comment=READS_ALL)}


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
