"""Indexes of every collection the service owns, made at start-up."""

from __future__ import annotations

from crm_kit.outbox import Document
from pymongo.asynchronous.database import AsyncDatabase

from crm_campaigns import projections
from crm_campaigns.repository import EVENTS, NEEDS, PARTICIPANTS, PROGRAMMES


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await projections.create_indexes(db)
    await db[EVENTS].create_index([("starts_at", 1), ("_id", 1)])
    await db[EVENTS].create_index([("kind", 1), ("starts_at", 1)])
    await db[EVENTS].create_index([("programme_id", 1), ("starts_at", 1)])
    await db[EVENTS].create_index("responsible_employee_ids")
    await db[PROGRAMMES].create_index("name")
    # One person or employee is on an event's list at most once.
    await db[PARTICIPANTS].create_index([("event_id", 1), ("who", 1)], unique=True)
    await db[PARTICIPANTS].create_index([("event_id", 1), ("status", 1), ("_id", 1)])
    await db[PARTICIPANTS].create_index("check_in_code")
    await db[NEEDS].create_index([("at", 1)])
