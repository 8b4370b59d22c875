"""Indexes of every collection the service owns, made at start-up: each query of the
repository is served by one of them.

Notifications are written four times each in a fan-out, most of it inside transactions, where
MongoDB checks every index of the collection for each document it updates; so they keep four
(decision 0080): ``_id``, the due work, the log keys with ``seq`` (every filter of the log and
an event's audience) and the retention's TTL on ``settled_at``. A database written before
that is upgraded once (format 1): the old indexes go and settled notifications get their
``settled_at``. Notifications without log keys (stored before, or by an instance of the
previous version still running) get theirs at every start, read from the log index's range
of documents without keys.
"""

from __future__ import annotations

import logging

from crm_kit.outbox import Document
from crm_kit.store_format import drop_indexes, upgrade_once
from pymongo import ASCENDING, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.domain import Status
from crm_notify.repository import INVITEES, NOTIFICATIONS, TASKS
from crm_notify.repository.notifications import LOG_INDEX, LOG_KEYS, SETTLED_AT, log_keys

log = logging.getLogger(__name__)

FORMAT = 1
"""Raised when the notifications' stored fields or indexes change again."""
DROPPED = (
    "seq_-1",
    "recipient.id_1_seq_-1",
    "kind_1_seq_-1",
    "status_1_seq_-1",
    "source.event_id_1_seq_-1",
    "event_id_1_kind_1__id_1",
    "delivered_at_ttl",
    "failed_at_ttl",
)
"""The indexes of the format before: the log's five, the audience's and the two TTL ones."""
_BULK = 1000
"""Notifications given their log keys per bulk write (what the backfill holds at once)."""


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    n = db[NOTIFICATIONS]
    # Due work: never-tried ones (pending, attempt 0) in due order, and retries or expired
    # leases (retry, sending) fewest attempts first; both ranges end at "now".
    await n.create_index(
        [("status", ASCENDING), ("attempts", ASCENDING), ("next_attempt_at", ASCENDING)]
    )
    # The log, newest first, whole (``*``) or by one filter (one key); an event's audience.
    await n.create_index(LOG_INDEX)
    await db[INVITEES].create_index([("event_id", ASCENDING), ("_id", ASCENDING)])
    await db[TASKS].create_index([("event_id", ASCENDING), ("open", ASCENDING), ("_id", ASCENDING)])
    await upgrade_once(db, NOTIFICATIONS, FORMAT, lambda: _upgrade(db))
    await backfill_log_keys(db)


async def _upgrade(db: AsyncDatabase[Document]) -> None:
    n = db[NOTIFICATIONS]
    await drop_indexes(n, DROPPED)
    settled = [Status.DELIVERED.value, Status.FAILED.value]
    await n.update_many(
        {"status": {"$in": settled}, SETTLED_AT: {"$exists": False}},
        [{"$set": {SETTLED_AT: {"$ifNull": ["$delivered_at", "$failed_at"]}}}],
    )


async def backfill_log_keys(db: AsyncDatabase[Document]) -> int:
    """Give each notification without log keys its keys; returns how many were given.

    Without keys is no ``log_keys`` at all, or, when a status was written to one stored
    without them, an object holding that status key (``{"0": "s:sending"}``): both are
    index ranges. Each update is guarded by the status and keys it was read with, so one
    changed meanwhile is read again on the next pass."""
    n = db[NOTIFICATIONS]
    given = 0
    fields = ("status", "recipient.id", "kind", "source.event_id", "event_id", LOG_KEYS)
    keyless = {"$or": [{LOG_KEYS: None}, {LOG_KEYS: {"$type": "object"}}]}
    while True:
        docs = await n.find(keyless, dict.fromkeys(fields, 1)).limit(_BULK).to_list()
        if not docs:
            return given
        ops = [
            UpdateOne(
                {"_id": d["_id"], "status": d["status"], LOG_KEYS: d.get(LOG_KEYS)},
                {"$set": {LOG_KEYS: log_keys(d)}},
            )
            for d in docs
        ]
        changed = (await n.bulk_write(ops, ordered=False)).modified_count
        if not changed:  # each changed meanwhile; the next start reads them again
            log.warning("%d notifications kept changing; their log keys wait", len(docs))
            return given
        given += changed
