"""What the back office said about won proposals: one document per proposal, its facts in a
list, each fact once (by its key: the kind of fact, the system and its document number)."""

from __future__ import annotations

import contextlib
from typing import Any

from crm_kit.outbox import Document
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_proposals.repository import BACK_OFFICE


async def add_fact(db: AsyncDatabase[Document], proposal_id: str, fact: dict[str, Any]) -> None:
    """Append ``fact`` unless a fact with its ``key`` is there (a redelivery changes nothing)."""
    # The filter misses when the fact is there; the upsert's insert then collides on _id,
    # which is exactly "already recorded".
    with contextlib.suppress(DuplicateKeyError):
        await db[BACK_OFFICE].update_one(
            {"_id": proposal_id, "facts.key": {"$ne": fact["key"]}},
            {"$push": {"facts": fact}},
            upsert=True,
        )


async def facts_of(db: AsyncDatabase[Document], proposal_id: str) -> list[dict[str, Any]]:
    """The proposal's back-office facts in the order they happened (then as recorded)."""
    doc = await db[BACK_OFFICE].find_one({"_id": proposal_id})
    facts: list[dict[str, Any]] = list(doc["facts"]) if doc else []
    return sorted(facts, key=lambda f: f["at"])
