"""Guarded updates grouped into shared statements (crm_kit.bulk) on the real server: each
document is written exactly when its own guarded statement would have written it."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_kit.bulk import guarded_updates
from pymongo import UpdateMany, UpdateOne


def _bump(status: str) -> dict[str, Any]:
    return {"$set": {"status": status}, "$inc": {"version": 1}}


def test_statements_share_a_guard_and_an_update_or_stand_alone() -> None:
    statements = guarded_updates(
        [
            ("a", {"version": 1}, _bump("invited")),
            ("b", {"version": 1}, _bump("invited")),
            ("c", {"version": 2}, _bump("invited")),  # another guard
            ("d", {"version": 1}, _bump("declined")),  # another update
            ("e", {"version": 1}, _bump("invited")),
        ]
    )
    assert statements == [
        UpdateMany({"_id": {"$in": ["a", "b", "e"]}, "version": 1}, _bump("invited")),
        UpdateOne({"_id": "c", "version": 2}, _bump("invited")),
        UpdateOne({"_id": "d", "version": 1}, _bump("declined")),
    ]
    assert guarded_updates([]) == []


async def test_a_document_changed_since_it_was_read_is_left_alone(mongo_db: Any) -> None:
    docs = mongo_db["docs"]
    await docs.insert_many([{"_id": f"p{i}", "version": 1, "status": "planned"} for i in range(6)])
    # p2 and p4 were changed by someone else after the batch read them at version 1.
    await docs.update_many({"_id": {"$in": ["p2", "p4"]}}, {"$inc": {"version": 1}})
    statements = guarded_updates((f"p{i}", {"version": 1}, _bump("invited")) for i in range(6))
    assert len(statements) == 1

    result = await docs.bulk_write(statements, ordered=False)

    assert result.modified_count == 4
    stored = {d["_id"]: (d["version"], d["status"]) async for d in docs.find()}
    assert stored == {
        "p0": (2, "invited"),
        "p1": (2, "invited"),
        "p2": (2, "planned"),
        "p3": (2, "invited"),
        "p4": (2, "planned"),
        "p5": (2, "invited"),
    }


async def test_of_two_batches_racing_for_the_same_documents_each_document_goes_to_one(
    mongo_db: Any,
) -> None:
    docs = mongo_db["docs"]
    ids = [f"n{i}" for i in range(200)]
    await docs.insert_many([{"_id": i, "attempts": 0, "lease": None} for i in ids])

    async def claim(token: str) -> int:
        statements = guarded_updates(
            (i, {"attempts": 0}, {"$set": {"lease": token}, "$inc": {"attempts": 1}}) for i in ids
        )
        return int((await docs.bulk_write(statements, ordered=False)).modified_count)

    won = await asyncio.gather(*(claim(f"worker-{n}") for n in range(4)))

    assert sum(won) == len(ids), won
    leases = [d async for d in docs.find({}, {"attempts": 1, "lease": 1})]
    assert all(d["attempts"] == 1 and d["lease"] for d in leases)
