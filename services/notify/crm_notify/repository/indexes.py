"""Indexes of every collection the service owns, made at start-up: each query of the
repository is served by one of them."""

from __future__ import annotations

from crm_kit.outbox import Document
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.repository import INVITEES, NOTIFICATIONS, TASKS


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
