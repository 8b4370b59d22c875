"""The delivery worker's queries: due notifications, claims under a lease token, lease
renewal, and outcomes written with their events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from crm_kit.bulk import guarded_updates
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.domain import Status
from crm_notify.repository import NOTIFICATIONS
from crm_notify.repository.notifications import WAITING, notifications_by_id, status_change

RETRIED = (Status.RETRY.value, Status.SENDING.value)
"""Tried before: waiting for a retry, or claimed (``sending``) until its lease runs out."""


async def due_notifications(
    db: AsyncDatabase[Document],
    now: datetime,
    limit: int,
    retry_share: float = 0.25,
    *,
    batch: int | None = None,
) -> list[Document]:
    """Up to ``limit`` notifications due now, to be taken ``batch`` at a time (one batch when
    not given), in which fresh ones never queue behind retries.

    Never-tried notifications first, in the order they became due. When they do not fill
    ``limit``, the retries (and claims whose lease ran out) fill the rest, fewest attempts
    first; when they do, the retries still get their ``retry_share`` of the first batch, so a
    flood of fresh work does not starve them either. Both reads are index ranges that stop at
    what they return."""
    if limit <= 0:
        return []
    first = min(limit, batch or limit)
    due = {"$lte": now}
    fresh = (
        await db[NOTIFICATIONS]
        .find({"status": Status.PENDING.value, "attempts": 0, "next_attempt_at": due})
        .sort("next_attempt_at", ASCENDING)
        .limit(limit)
        .to_list()
    )
    filled = len(fresh) == limit
    retries = (
        await db[NOTIFICATIONS]
        .find({"status": {"$in": list(RETRIED)}, "next_attempt_at": due})
        .sort([("attempts", ASCENDING), ("next_attempt_at", ASCENDING)])
        .limit(max(1, int(first * retry_share)) if filled else limit - len(fresh))
        .to_list()
    )
    if not filled:
        return fresh + retries
    taken = first - len(retries)
    return fresh[:taken] + retries + fresh[taken : limit - len(retries)]


async def claim_batch(
    db: AsyncDatabase[Document],
    candidates: Sequence[Document],
    now: datetime,
    lease: timedelta,
    token: str,
) -> list[Document]:
    """Take the next attempt of each candidate that no other worker took; returns the taken
    notifications as they are after the claim.

    One bulk command of updates guarded by what each candidate was read as (its attempt count,
    a waiting status, due by now; the candidates at one attempt count in one statement): each
    document's update is atomic, so of the workers racing for one attempt exactly one matches,
    and a stale candidate changes nothing.
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
    changes = {**claimed, **status_change(Status.SENDING)}
    waiting = {"$in": list(WAITING)}
    # One statement for the candidates at each attempt count (crm_kit.bulk).
    ops = guarded_updates(
        (
            d["_id"],
            {"attempts": d["attempts"], "status": waiting, "next_attempt_at": {"$lte": now}},
            {"$set": changes, "$inc": {"attempts": 1}},
        )
        for d in candidates
    )
    result = await db[NOTIFICATIONS].bulk_write(ops, ordered=False)
    if result.modified_count == len(candidates):
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
