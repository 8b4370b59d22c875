"""Who hears of a marketing event's move or cancellation: its invited people (read from its
invitation notifications) and the assignees of its open tasks."""

from __future__ import annotations

from crm_contracts.values import RecipientKind
from crm_kit.outbox import Document
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.repository import INVITEES, NOTIFICATIONS, TASKS, recipient_key
from crm_notify.repository.notifications import LOG_KEYS, audience_key


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
    invited = db[NOTIFICATIONS].find({LOG_KEYS: audience_key(event_id)}, {"recipient": 1})
    legacy = db[INVITEES].find({"event_id": event_id}, {"recipient": 1}).sort("_id", ASCENDING)
    for cursor in (invited.sort("seq", ASCENDING), legacy):
        async for doc in cursor:
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
