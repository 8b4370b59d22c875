"""Indexes of every collection the service owns, made at start-up: each query of the
repository and the projections is served by one of them.

The participants are written twice per invitation in the fan-out, and each write checks
every index of the collection, so they have no more than their queries need. A database made
before their format 1 (recorded in ``store_format``) drops the indexes those replaced, once;
removed participants' keys in the former shape are rewritten to begin with their ``who`` at
every start. Run twice, or by two instances at once, each ends the same.
"""

from __future__ import annotations

from bson.regex import Regex
from crm_kit.outbox import Document
from crm_kit.store_format import drop_indexes, upgrade_once
from pymongo import IndexModel, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from crm_campaigns import projections
from crm_campaigns.repository import (
    EVENTS,
    INVITATION_RUNS,
    NEEDS,
    PARTICIPANTS,
    PROGRAMMES,
    PUBLIC_FORM_POSTS,
    RESPONSES,
)
from crm_campaigns.repository.documents import participant_of
from crm_campaigns.repository.needs import BY_TIME
from crm_campaigns.repository.participants import BY_STATUS
from crm_campaigns.repository.responses import INDEXES as RESPONSE_INDEXES
from crm_campaigns.repository.retention import INDEX as RETENTION_INDEX

PARTICIPANTS_FORMAT = 1
"""Format 1: a person's participations read by ``who``, an event's list in ``_id`` order by
status; ``(event_id, who)``, ``(event_id, _id)`` and ``person_id`` gone."""
_PARTICIPANT_INDEXES = [
    # One person or employee is on an event's list at most once; a person's participations
    # across events (erasure and export).
    IndexModel([("who", 1), ("event_id", 1)], unique=True),
    IndexModel(BY_STATUS),
    IndexModel([("event_id", 1), ("check_in_code", 1)]),
    # The waiting list in its order; only the waiting are in it.
    IndexModel(
        [("event_id", 1), ("added_at", 1), ("_id", 1)],
        name="waiting_list",
        partialFilterExpression={"status": "waitlisted"},
    ),
]
_DROPPED_PARTICIPANT_INDEXES = ("event_id_1_who_1", "event_id_1__id_1", "person_id_1")
_FORMER_REMOVED_WHO = Regex("^removed:")
"""The key a removed participant kept before format 1: ``removed:<participant id>``."""
_BULK = 1000
"""Rewrites per bulk write of the upgrade."""


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await projections.create_indexes(db)
    # The plan-schedule: by period, kind, programme, responsible employee or status.
    await db[EVENTS].create_index([("starts_at", 1), ("_id", 1)])
    await db[EVENTS].create_index([("kind", 1), ("starts_at", 1), ("_id", 1)])
    await db[EVENTS].create_index([("programme_id", 1), ("starts_at", 1), ("_id", 1)])
    await db[EVENTS].create_index([("responsible_employee_ids", 1), ("starts_at", 1), ("_id", 1)])
    await db[EVENTS].create_index([("status", 1), ("starts_at", 1), ("_id", 1)])
    # Someone's open tasks across events (GET /tasks?assignee_id=).
    await db[EVENTS].create_index([("tasks.assignee_id", 1), ("tasks.status", 1)])
    await db[EVENTS].create_indexes([RETENTION_INDEX])
    await db[PROGRAMMES].create_index("name")
    # New ones first, so the list stays unique while the upgrade drops the ones they replace.
    await db[PARTICIPANTS].create_indexes(_PARTICIPANT_INDEXES)
    await rewrite_former_removed_keys(db)
    await upgrade_once(
        db,
        PARTICIPANTS,
        PARTICIPANTS_FORMAT,
        lambda: drop_indexes(db[PARTICIPANTS], _DROPPED_PARTICIPANT_INDEXES),
    )
    await db[INVITATION_RUNS].create_index([("state", 1), ("created_at", 1)])
    # The market-needs report by period, programme or field of activity, each index holding
    # every field the report counts.
    counted = [("item_code", 1), ("field_of_activity", 1), ("client_id", 1)]
    await db[NEEDS].create_index([("at", 1), *counted], name=BY_TIME)
    await db[NEEDS].create_index([("programme_id", 1), ("at", 1), *counted])
    await db[NEEDS].create_index("person_id", sparse=True)  # a person's data export
    await db[NEEDS].create_index([("field_of_activity", 1), ("at", 1), *counted[::2]])
    # An event's questionnaire results; a person's answers (erasure and export).
    await db[RESPONSES].create_indexes(RESPONSE_INDEXES)
    # The public forms' post counters go once their window is over (read by _id only).
    await db[PUBLIC_FORM_POSTS].create_index("expires_at", expireAfterSeconds=0)


async def rewrite_former_removed_keys(db: AsyncDatabase[Document]) -> int:
    """Give the participants removed with the former key (``removed:<id>``) the one that begins
    with their ``who``, so that a person's erasure and export find them; the number rewritten.

    At every start, not once: an instance of the previous version still running during an
    upgrade removes participants with the former key, and the next start of any instance
    rewrites them. Read from the unique index's own range of such keys (none, once done)."""
    participants = db[PARTICIPANTS]
    rewritten = 0
    ops: list[UpdateOne] = []
    async for doc in participants.find({"who": _FORMER_REMOVED_WHO}):
        # Guarded by the key read: run twice, the second finds it rewritten and writes nothing.
        rewrite = {"$set": {"who": participant_of(doc).removed_who}}
        ops.append(UpdateOne({"_id": doc["_id"], "who": doc["who"]}, rewrite))
        if len(ops) >= _BULK:
            rewritten += (await participants.bulk_write(ops, ordered=False)).modified_count
            ops.clear()
    if ops:
        rewritten += (await participants.bulk_write(ops, ordered=False)).modified_count
    return rewritten
