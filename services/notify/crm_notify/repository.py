"""Every query of the notify service: notifications, recipient projection, event audience,
template overrides."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from crm_contracts.values import Channel, Language, NotificationKind, RecipientKind
from crm_kit.clock import utc_now
from crm_kit.outbox import OUTBOX, VERSION, Document
from pymongo import ASCENDING, DESCENDING, DeleteOne, ReturnDocument, UpdateOne
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
DUE = "due_notifications"
PROCESSED = "processed_events"  # the kit's consumer markers
DUPLICATE_KEY = 11000


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    # Every collection is created here, before any concurrency: FerretDB v1 (SQLite) creates a
    # collection under a registry-wide lock while waiting for a connection, and a first insert
    # under load has deadlocked the whole server that way.
    existing = set(await db.list_collection_names())
    for name in (NOTIFICATIONS, RECIPIENTS, INVITEES, TASKS, TEMPLATES, CLAIMS, DUE, PROCESSED):
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
    await db[DUE].create_index([("next_attempt_at", ASCENDING)])
    await db[INVITEES].create_index([("event_id", ASCENDING)])
    await db[TASKS].create_index([("event_id", ASCENDING), ("open", ASCENDING)])


def recipient_key(kind: RecipientKind | str, recipient_id: str) -> str:
    return f"{RecipientKind(kind).value}:{recipient_id}"


# --- notifications -------------------------------------------------------------------------

WRITE_CHUNK = 50
"""Statements per bulk command: FerretDB v1 holds a pooled connection per statement until the
command ends and deadlocks past about 100 (docs/decisions/0002)."""

ID_LOOKUP_CHUNK = 400
"""Ids per ``_id $in`` read: the local FerretDB answers an ``$in`` of at most 500 string ids
from the ``_id`` index (docs/decisions/0002)."""

WAITING = (Status.PENDING.value, Status.RETRY.value, Status.SENDING.value)
FINAL = (Status.DELIVERED.value, Status.FAILED.value)
FRESH_LANE = "fresh"
"""Never tried (``pending``)."""
RETRY_LANE = "retry"
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
        OUTBOX: [],
    }


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def due_entry(
    notification_id: str, attempts: int, next_attempt_at: datetime, now: datetime
) -> Document:
    """The ``due_notifications`` document of a waiting notification."""
    return {
        "_id": notification_id,
        "lane": RETRY_LANE if attempts else FRESH_LANE,
        "attempts": attempts,
        "next_attempt_at": next_attempt_at,
        "written_at": now,
    }


def _reschedule(notification_id: str, attempts: int, at: datetime, now: datetime) -> UpdateOne:
    """Set (or re-create) the due entry of a notification that is still waiting."""
    entry = due_entry(notification_id, attempts, at, now)
    del entry["_id"]
    return UpdateOne({"_id": notification_id}, {"$set": entry}, upsert=True)


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
    """Insert what is new, ``WRITE_CHUNK`` at a time; a notification that already exists is
    left as it is. Returns how many were new.

    Each chunk's due entries (``due_notifications``, one per notification, keyed by its id) are
    written first and the notifications after them, so no crash leaves a notification that the
    delivery worker cannot find:

    - a crash before the due entries: nothing written; the consumer has not written the event's
      processed marker (the kit writes it after the handler), so the event is redelivered and
      both are written then;
    - a crash between the two: due entries without notifications. The event is redelivered and
      writes the notifications (the entries are already there); meanwhile the worker finds no
      notification for such an entry and looks again later, with a growing pause, and deletes
      it only once it is older than ``orphan_grace`` (:func:`due_notifications`);
    - a redelivery of an event whose notifications were already sent writes due entries for
      final notifications: the worker reads the notification, sees it final and deletes the
      entry. An entry never decides by itself that something is sent (the notification's own
      status, due time and claim do), so a superfluous entry costs a read, never a message.
    """
    inserted = 0
    now = utc_now()
    for chunk in _chunks(docs, WRITE_CHUNK):
        entries = [
            due_entry(str(d["_id"]), int(d["attempts"]), d["next_attempt_at"], now)
            for d in chunk
            if d["status"] in WAITING
        ]
        await _insert_new(db, DUE, entries)
        inserted += await _insert_new(db, NOTIFICATIONS, chunk)
    return inserted


async def find_notification(db: AsyncDatabase[Document], notification_id: str) -> Document | None:
    return await db[NOTIFICATIONS].find_one({"_id": notification_id}, {OUTBOX: 0})


async def notifications_by_id(
    db: AsyncDatabase[Document], ids: Sequence[str], extra: Mapping[str, Any] | None = None
) -> dict[str, Document]:
    """The notifications among ``ids`` (without their outbox) that also match ``extra``, by id:
    one ``_id $in`` read per ``ID_LOOKUP_CHUNK``."""
    found: dict[str, Document] = {}
    for chunk in _chunks(list(dict.fromkeys(ids)), ID_LOOKUP_CHUNK):
        cursor = db[NOTIFICATIONS].find({"_id": {"$in": list(chunk)}, **(extra or {})}, {OUTBOX: 0})
        found.update({str(doc["_id"]): doc async for doc in cursor})
    return found


async def due_in_lane(
    db: AsyncDatabase[Document],
    lane: str | None,
    now: datetime,
    limit: int,
    *,
    ordered: bool = True,
) -> list[Document]:
    """Due entries of ``lane`` (both lanes when ``None``). Reads ``due_notifications`` only:
    what waits, not every notification ever sent.

    ``ordered``: fewest attempts first, then longest waiting; the store reads every entry of
    the collection to sort them. Unordered, the entries come in the order they were stored and
    the store stops reading at ``limit``: on the local FerretDB, 400 of 50,000 due entries took
    24-50 ms unordered and 2.6-2.8 s ordered. The fresh lane is read that way, since its entries
    are stored in the order they became due (a notification's first attempt)."""
    if limit <= 0:
        return []
    query: dict[str, Any] = {"next_attempt_at": {"$lte": now}}
    if lane is not None:
        query["lane"] = lane
    cursor = db[DUE].find(query)
    if ordered:
        cursor = cursor.sort([("attempts", ASCENDING), ("next_attempt_at", ASCENDING)])
    return [doc async for doc in cursor.limit(limit)]


async def due_candidates(
    db: AsyncDatabase[Document],
    now: datetime,
    limit: int,
    retry_share: float = 0.25,
    *,
    probe_retries: bool = True,
) -> list[Document]:
    """One batch of due entries in which fresh ones never queue behind retries.

    Never-tried notifications first, in the order they were stored (read without a sort, so a
    large backlog is not read whole for each batch). When they do not fill the batch, the
    retries fill the rest, fewest attempts first. When they do, ``probe_retries`` asks for the
    retries' reserved ``retry_share`` of the batch, so a flood of fresh work does not starve
    retries either; that read goes through every due entry, so the worker asks for it only
    every ``worker_retry_probe_s`` while fresh work fills its batches."""
    fresh = await due_in_lane(db, FRESH_LANE, now, limit, ordered=False)
    if len(fresh) < limit:
        return fresh + await due_in_lane(db, RETRY_LANE, now, limit - len(fresh))
    if not probe_retries:
        return fresh
    retries = await due_in_lane(db, RETRY_LANE, now, max(1, int(limit * retry_share)))
    return fresh[: limit - len(retries)] + retries


async def due_notifications(
    db: AsyncDatabase[Document],
    now: datetime,
    limit: int,
    *,
    orphan_grace: timedelta,
    retry_share: float = 0.25,
    probe_retries: bool = True,
) -> list[Document]:
    """The notifications (without their outbox) that are due now, read through their due
    entries: one query of ``due_notifications`` and one ``_id $in`` read of the notifications.

    The notification decides, never the entry: one is returned only while its own status is a
    waiting one and its own ``next_attempt_at`` has come, so an entry that lags behind (a crash
    between a notification's write and its entry's, or an entry written again by a redelivered
    event) can never get a message sent that should not be. Entries that disagree are put
    right on the way: a final notification's entry is deleted, a waiting one's gets the
    notification's due time and attempts. An entry without a notification (its notification
    not written yet, or never: see :func:`insert_notifications`) is looked at again after as
    long as it has existed, and deleted once it is older than ``orphan_grace``.
    """
    entries = await due_candidates(db, now, limit, retry_share, probe_retries=probe_retries)
    if not entries:
        return []
    docs = await notifications_by_id(db, [str(e["_id"]) for e in entries])
    due: list[Document] = []
    fixes: list[UpdateOne | DeleteOne] = []
    for entry in entries:
        nid = str(entry["_id"])
        doc = docs.get(nid)
        if doc is None:
            age = now - entry.get("written_at", now)
            if age >= orphan_grace:
                fixes.append(DeleteOne({"_id": nid}))
            else:
                later = now + max(age, timedelta(seconds=1))
                fixes.append(UpdateOne({"_id": nid}, {"$set": {"next_attempt_at": later}}))
        elif doc["status"] not in WAITING:
            fixes.append(DeleteOne({"_id": nid}))
        elif doc["next_attempt_at"] > now:
            fixes.append(_reschedule(nid, int(doc["attempts"]), doc["next_attempt_at"], now))
        else:
            due.append(doc)
    await apply_due_changes(db, fixes)
    return due


async def apply_due_changes(
    db: AsyncDatabase[Document], changes: Sequence[UpdateOne | DeleteOne]
) -> None:
    """Write changes of due entries, ``WRITE_CHUNK`` per command."""
    for chunk in _chunks(changes, WRITE_CHUNK):
        await db[DUE].bulk_write(list(chunk), ordered=False)


def due_change(
    notification_id: str, attempts: int, changes: Mapping[str, Any], now: datetime
) -> UpdateOne | DeleteOne:
    """The change of a due entry that goes with an outcome's ``changes`` of the notification
    (tried ``attempts`` times): a final outcome deletes it, a retry moves it to the retry's
    time."""
    if changes["status"] in FINAL:
        return DeleteOne({"_id": notification_id})
    return _reschedule(notification_id, attempts, changes["next_attempt_at"], now)


async def sync_due(db: AsyncDatabase[Document], ids: Sequence[str], now: datetime) -> None:
    """Make the due entries of ``ids`` agree with their notifications as they are now: deleted
    for a final notification, due when the notification is. Used where a guarded write did not
    hold for every notification, so which ones changed is read rather than assumed."""
    docs = await notifications_by_id(db, ids)
    changes: list[UpdateOne | DeleteOne] = []
    for nid in ids:
        doc = docs.get(nid)
        if doc is None or doc["status"] in FINAL:
            changes.append(DeleteOne({"_id": nid}))
        else:
            changes.append(_reschedule(nid, int(doc["attempts"]), doc["next_attempt_at"], now))
    await apply_due_changes(db, changes)


async def repair_due(db: AsyncDatabase[Document], now: datetime) -> int:
    """Re-create the due entry of every waiting notification that has none; returns how many.

    Nothing in this module's write order leaves a waiting notification without an entry (see
    :func:`insert_notifications` and :func:`claim_batch`), so this is what catches the rest:
    notifications stored before due entries existed, or written by hand. It reads every
    notification (on the local FerretDB a scan of the collection), so the service runs it at
    start and then rarely (``due_repair_interval_s``).
    """
    waiting = db[NOTIFICATIONS].find(
        {"status": {"$in": list(WAITING)}}, {"attempts": 1, "next_attempt_at": 1}
    )
    return await restore_due_entries(db, [doc async for doc in waiting], now)


async def restore_due_entries(
    db: AsyncDatabase[Document], seen: Sequence[Document], now: datetime
) -> int:
    """Create the due entries missing for ``seen``, notifications read as waiting.

    The read of a large collection takes seconds, and meanwhile the worker sends some of them
    and deletes their entries; so the notifications found without an entry are read again by
    id, and only those still waiting get one, from their current attempt and time (a 100,000
    invitation run had re-created thousands of entries for notifications already sent).
    """
    missing_ids: list[str] = []
    for chunk in _chunks(list(seen), ID_LOOKUP_CHUNK):
        ids = [str(d["_id"]) for d in chunk]
        have = {str(d["_id"]) async for d in db[DUE].find({"_id": {"$in": ids}}, {"_id": 1})}
        missing_ids.extend(i for i in ids if i not in have)
    still_waiting = await notifications_by_id(db, missing_ids, {"status": {"$in": list(WAITING)}})
    missing = [
        due_entry(nid, int(doc["attempts"]), doc["next_attempt_at"], now)
        for nid, doc in still_waiting.items()
    ]
    created = 0
    for chunk in _chunks(missing, WRITE_CHUNK):
        created += await _insert_new(db, DUE, chunk)
    return created


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
    that dies leaves the notification due again when the lease runs out; last, the due entries
    move to the lease's end too (a crash before that leaves entries that are due too early,
    which :func:`due_notifications` puts right without sending). Each step is one bulk command
    per ``WRITE_CHUNK``; the taken documents are read back only when a guard refused.
    """
    won: list[Document] = []
    for chunk in _chunks(candidates, WRITE_CHUNK):
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
    for chunk in _chunks(won, WRITE_CHUNK):
        result = await db[NOTIFICATIONS].bulk_write(
            [
                UpdateOne(
                    {"_id": d["_id"], "attempts": d["attempts"]},
                    {"$set": claimed, "$inc": {"attempts": 1}},
                )
                for d in chunk
            ],
            ordered=False,
        )
        matched += result.matched_count
    if matched == len(won):
        taken = [{**d, **claimed, "attempts": int(d["attempts"]) + 1} for d in won]
    else:
        taken = await held(db, [str(d["_id"]) for d in won], token, full=True)
    await apply_due_changes(
        db, [_reschedule(str(d["_id"]), int(d["attempts"]), now + lease, now) for d in taken]
    )
    return taken


async def held(
    db: AsyncDatabase[Document], ids: Sequence[str], token: str, *, full: bool = False
) -> list[Document]:
    """The notifications among ``ids`` that are still leased with ``token``: one ``_id $in``
    read per ``ID_LOOKUP_CHUNK``."""
    found = await notifications_by_id(db, ids, {"lease": token})
    if full:
        return list(found.values())
    return [{"_id": doc["_id"]} for doc in found.values()]


async def renew_leases(
    db: AsyncDatabase[Document], ids: Sequence[str], token: str, until: datetime
) -> set[str]:
    """Extend the lease of the notifications a worker still holds, and their due entries;
    returns those it holds."""
    if not ids:
        return set()
    result = await db[NOTIFICATIONS].update_many(
        {"_id": {"$in": list(ids)}, "lease": token}, {"$set": {"next_attempt_at": until}}
    )
    if result.matched_count == len(ids):
        kept = set(ids)
    else:
        kept = {str(doc["_id"]) for doc in await held(db, ids, token)}
    if kept:
        await db[DUE].update_many(
            {"_id": {"$in": sorted(kept)}}, {"$set": {"next_attempt_at": until}}
        )
    return kept


async def settle(db: AsyncDatabase[Document], outcomes: Sequence[UpdateOne]) -> int:
    """Write outcomes (each guarded by its lease) in bulk commands; returns how many held."""
    matched = 0
    for chunk in _chunks(outcomes, WRITE_CHUNK):
        result = await db[NOTIFICATIONS].bulk_write(list(chunk), ordered=False)
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
    """The projection's state of several recipients, by key: one ``_id $in`` read per
    ``ID_LOOKUP_CHUNK`` (answered from the ``_id`` index on the local FerretDB)."""
    found: dict[str, Reachability] = {}
    for chunk in _chunks(sorted(set(keys)), ID_LOOKUP_CHUNK):
        cursor = db[RECIPIENTS].find({"_id": {"$in": list(chunk)}})
        found.update({str(doc["_id"]): _reachability(doc) async for doc in cursor})
    return found


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
