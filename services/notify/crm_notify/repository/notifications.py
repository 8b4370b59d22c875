"""Notifications: one per (source event, recipient, kind), stored as requests arrive, and the
delivery log read newest first."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from crm_contracts.values import NotificationKind
from crm_kit.logs import current_correlation_id
from crm_kit.outbox import VERSION, Document
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from crm_notify.domain import Status
from crm_notify.repository import NOTIFICATIONS

DUPLICATE_KEY = 11000

WAITING = (Status.PENDING.value, Status.RETRY.value, Status.SENDING.value)

LOG_KEYS = "log_keys"
"""What the delivery log and the event audience are read by, in one multikey index with
``seq`` (decision 0080): ``s:<status>`` first (the one key that changes, so a status write
sets ``log_keys.0`` with it), ``*`` (every notification), ``r:<recipient id>``, ``k:<kind>``,
``e:<source event id>`` and, on an invitation to a marketing event, ``a:<event id>``."""
LOG_INDEX = [(LOG_KEYS, ASCENDING), ("seq", DESCENDING)]
STATUS_KEY = f"{LOG_KEYS}.0"
EVERY = "*"
SETTLED_AT = "settled_at"
"""When it was delivered or finally failed: the one date its retention counts from."""


def status_key(status: Status | str) -> str:
    return f"s:{Status(status).value}"


def recipient_log_key(recipient_id: str) -> str:
    return f"r:{recipient_id}"


def kind_key(kind: NotificationKind | str) -> str:
    return f"k:{NotificationKind(kind).value}"


def source_key(source_event_id: str) -> str:
    return f"e:{source_event_id}"


def audience_key(event_id: str) -> str:
    return f"a:{event_id}"


def log_keys(doc: Mapping[str, Any]) -> list[str]:
    """The notification's keys in the log index, from its stored fields."""
    keys = [
        status_key(doc["status"]),
        EVERY,
        recipient_log_key(doc["recipient"]["id"]),
        kind_key(doc["kind"]),
        source_key(doc["source"]["event_id"]),
    ]
    if doc["kind"] == NotificationKind.INVITATION.value and doc.get("event_id"):
        keys.append(audience_key(doc["event_id"]))
    return keys


def status_change(status: Status) -> dict[str, str]:
    """The fields a move to ``status`` sets: the status and its key in the log index."""
    return {"status": status.value, STATUS_KEY: status_key(status)}


def new_notification(doc: Mapping[str, Any], now: datetime) -> Document:
    """A pending notification; it keeps the correlation id of what asked for it (the request
    event's, or the HTTP request's), which its message and its outcome fact carry."""
    stored: Document = {
        **doc,
        "correlation_id": doc.get("correlation_id") or current_correlation_id(),
        "status": Status.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "lease": None,
        "created_at": now,
        "seq": f"{now.isoformat()}|{doc['_id']}",
        VERSION: 1,
    }
    stored[LOG_KEYS] = log_keys(stored)
    return stored


async def insert_notifications(db: AsyncDatabase[Document], docs: Sequence[Document]) -> int:
    """Insert what is new in one unordered command; a notification that already exists (a
    redelivered request) is left as it is. Returns how many were new."""
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


async def list_notifications(
    db: AsyncDatabase[Document],
    *,
    recipient: str | None,
    by_address: bool = True,
    kind: NotificationKind | None,
    status: Status | None,
    source: str | None,
    since: datetime | None,
    until: datetime | None,
    after: str | None,
    limit: int,
) -> list[Document]:
    query: dict[str, Any] = {}
    keys = []
    if recipient:
        keys.append(recipient_log_key(recipient))
        if not by_address:
            query["recipient.kind"] = {"$ne": "address"}
    if kind:
        keys.append(kind_key(kind))
    if status:
        keys.append(status_key(status))
    if source:
        keys.append(source_key(source))
    # One filter is one range of the log index; with several, the planner reads the range it
    # measures to be the narrowest and the others narrow what it reads.
    query[LOG_KEYS] = {"$all": keys} if len(keys) > 1 else (keys[0] if keys else EVERY)
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
