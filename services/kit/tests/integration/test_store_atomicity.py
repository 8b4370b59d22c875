"""What the outbox and the version guards rely on from the store, on the real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from crm_kit.testing import StackEndpoints
from pymongo import AsyncMongoClient, ReturnDocument


async def test_the_store_is_the_primary_of_a_replica_set(stack: StackEndpoints) -> None:
    # Transactions and change streams, which the outbox relies on, exist only on a replica set.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    try:
        hello = await client.admin.command("hello")
    finally:
        await client.close()
    assert hello.get("setName"), f"the store at {stack.mongo_uri} is not a replica set member"
    assert hello.get("isWritablePrimary") is True


async def test_a_transaction_that_fails_midway_leaves_none_of_its_writes(
    stack: StackEndpoints, mongo_db: Any
) -> None:
    await mongo_db.a.insert_one({"_id": "x", "n": 0})
    client = mongo_db.client

    async def work(session: Any) -> None:
        await mongo_db.a.update_one({"_id": "x"}, {"$inc": {"n": 1}}, session=session)
        await mongo_db.b.insert_one({"_id": "y"}, session=session)
        raise RuntimeError("fails after two writes")

    async with client.start_session() as session:
        with pytest.raises(RuntimeError, match="fails after two writes"):
            await session.with_transaction(work)
    assert (await mongo_db.a.find_one({"_id": "x"}))["n"] == 0
    assert await mongo_db.b.count_documents({}) == 0


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
