"""Indexes of every collection the service owns, made at start-up: each query of the
repository and the projections is served by one of them."""

from __future__ import annotations

from crm_kit.outbox import Document
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
from crm_campaigns.repository.needs import BY_TIME
from crm_campaigns.repository.responses import INDEXES as RESPONSE_INDEXES
from crm_campaigns.repository.retention import INDEX as RETENTION_INDEX


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
    # One person or employee is on an event's list at most once.
    await db[PARTICIPANTS].create_index([("event_id", 1), ("who", 1)], unique=True)
    await db[PARTICIPANTS].create_index([("event_id", 1), ("_id", 1)])
    await db[PARTICIPANTS].create_index([("event_id", 1), ("status", 1), ("_id", 1)])
    await db[PARTICIPANTS].create_index([("event_id", 1), ("check_in_code", 1)])
    await db[PARTICIPANTS].create_index("person_id", sparse=True)  # erasure and export
    # The waiting list in its order; only the waiting are in it.
    await db[PARTICIPANTS].create_index(
        [("event_id", 1), ("added_at", 1), ("_id", 1)],
        name="waiting_list",
        partialFilterExpression={"status": "waitlisted"},
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
