"""The audit trail: who changed what, when, through which app — in every service, for any entity.

Every change a caller makes through a service's API writes its events through the outbox, in
the change's own transaction; each such event also writes one audit entry there (``audit``
collection), so the trail can neither miss a stored change nor hold one that was not stored:
``{"_id": <the outbox entry's ObjectId>, "entity": <the event's key>, "event_type",
"event_id", "topic", "occurred_at", "actor": {"app", "employee_id"}, "correlation_id"}``.
Events no caller made (a consumer's reaction, a background run's fan-out) carry no actor and
write no entry.

An operation that publishes nothing but must be on the trail (exporting a person's data) adds
its entry itself (:func:`record_operation`), with ``topic`` null.

``GET /audit/{entity_id}`` (``crm_kit.audit_api``) answers for one entity (a client, an event,
a proposal…: the id its events are keyed by), oldest first, a page at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
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


async def record_operation(
    db: AsyncDatabase[Document],
    *,
    entity: str,
    operation: str,
    actor: Mapping[str, Any] | None,
    correlation_id: str | None,
) -> None:
    """An audit entry for an operation that publishes no event of its own (an export of a
    person's data reads, it changes nothing), so the trail shows who asked for it too."""
    await db[AUDIT].insert_one(
        {
            "_id": ObjectId(),
            "entity": entity,
            "event_type": operation,
            "event_id": str(uuid.uuid4()),
            "topic": None,
            "occurred_at": datetime.now(UTC),
            "actor": dict(actor) if actor else {"app": "unknown", "employee_id": None},
            "correlation_id": correlation_id,
        }
    )


async def ensure_indexes(db: AsyncDatabase[Document]) -> None:
    await db[AUDIT].create_index([("entity", 1), ("_id", 1)], name="entity_in_write_order")
