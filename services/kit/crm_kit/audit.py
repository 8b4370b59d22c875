"""The audit trail: who changed what, when, through which app — in every service, for any entity.

Every change a caller makes through a service's API writes its events through the outbox, in
the change's own transaction; each such event also writes one audit entry there (``audit``
collection), so the trail can neither miss a stored change nor hold one that was not stored:
``{"_id": <the outbox entry's ObjectId>, "entity": <the event's key>, "event_type",
"event_id", "topic", "occurred_at", "actor": {"app", "employee_id"}, "correlation_id"}``.
Events no caller made (a consumer's reaction, a background run's fan-out) carry no actor and
write no entry.

``GET /audit/{entity_id}`` (``crm_kit.audit_api``) answers for one entity (a client, an event,
a proposal…: the id its events are keyed by), oldest first, a page at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

AUDIT = "audit"
Document = dict[str, Any]


def entries_of(outbox_entries: Sequence[Mapping[str, Any]]) -> list[Document]:
    """The audit entries of the outbox entries that carry an actor."""
    return [
        {
            "_id": entry["_id"],
            "entity": entry["key"],
            "event_type": entry["event_type"],
            "event_id": entry["event_id"],
            "topic": entry["topic"],
            "occurred_at": entry["occurred_at"],
            "actor": entry["actor"],
            "correlation_id": entry.get("correlation_id"),
        }
        for entry in outbox_entries
        if entry.get("actor")
    ]


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db[AUDIT].create_index([("entity", 1), ("_id", 1)], name="entity_in_write_order")
