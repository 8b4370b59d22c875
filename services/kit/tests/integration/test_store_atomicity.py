"""The store keeps single-document updates atomic, which the outbox and version guards rely on.

On FerretDB v1 over SQLite this holds only through the local stack's write-serializing proxy
(deploy/local/ferretdb/serialize.go); MongoDB guarantees it itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from crm_kit.testing import StackEndpoints
from pymongo import AsyncMongoClient, ReturnDocument

N = 200


async def test_racing_increments_and_pulls_on_one_document_lose_nothing(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    await mongo_db.d.insert_one({"_id": "x", "version": 0, "outbox": [{"id": i} for i in range(N)]})
    # Two clients, as a request's write and the outbox relay are in a service.
    relay: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    try:
        other = relay[mongo_db.name]
        await asyncio.gather(
            *(mongo_db.d.update_one({"_id": "x"}, {"$inc": {"version": 1}}) for _ in range(N)),
            *(other.d.update_one({"_id": "x"}, {"$pull": {"outbox": {"id": i}}}) for i in range(N)),
        )
    finally:
        await relay.close()
    stored = await mongo_db.d.find_one({"_id": "x"})
    assert stored["version"] == N
    assert stored["outbox"] == []


async def test_of_two_writers_holding_the_same_version_exactly_one_wins(mongo_db: Any) -> None:
    await mongo_db.d.insert_one({"_id": "y", "version": 1, "owner": None})

    async def claim(owner: str) -> Any:
        return await mongo_db.d.find_one_and_update(
            {"_id": "y", "version": 1},
            {"$set": {"owner": owner}, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )

    results = await asyncio.gather(*(claim(f"writer-{i}") for i in range(20)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    stored = await mongo_db.d.find_one({"_id": "y"})
    assert stored["version"] == 2
    assert stored["owner"] == winners[0]["owner"]
