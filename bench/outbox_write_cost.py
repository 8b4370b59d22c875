"""The store's cost of the two outbox designs, per event, one at a time and in batches.

    eval "$(uv run crm-stack env)" && uv run python bench/outbox_write_cost.py [--events 3000]

Baseline: the events in an ``outbox`` array of the changed document (the update ``$push``es the
event; the relay later ``$pull``s it), the design until 2026-12-06. Candidate, the design in use
(decision 0006): the change and an insert into the ``outbox`` collection in one transaction
(snapshot read concern, majority write concern), the relay later deleting published events by
``_id`` 500 at a time. Each is run one write at a time (16 concurrent callers, as requests) and
in batches of 48 documents (as the consumers' bulk writes). Prints the store's CPU per event
(mongod's, from /proc) and the candidate's ratio to the baseline. Figures only.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bson import ObjectId
from crm_stack.stack import store_pid
from proc import cpu_seconds
from pymongo import AsyncMongoClient, UpdateOne
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

BATCH = 48
ENTRY = {"topic": "crm.campaigns.v1", "key": "k", "value": "v" * 1000}


async def main(args: argparse.Namespace) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["CRM_MONGO_URI"])
    name = f"bench_outbox_{ObjectId()}"
    db = client[name]
    pid = store_pid()
    n = args.events - args.events % BATCH
    await db.create_collection("outbox")
    await db.d.insert_many([{"_id": i, "v": 0, "pad": "x" * 600, "outbox": []} for i in range(n)])

    async def measure(
        concurrency: int, chunk: int, op: Callable[[list[int]], Awaitable[None]]
    ) -> float:
        started = cpu_seconds(pid)
        gate = asyncio.Semaphore(concurrency)

        async def one(first: int) -> None:
            async with gate:
                await op(list(range(first, first + chunk)))

        await asyncio.gather(*(one(k) for k in range(0, n, chunk)))
        return (cpu_seconds(pid) - started) * 1000 / n

    def pushed(i: int) -> UpdateOne:
        return UpdateOne({"_id": i}, {"$inc": {"v": 1}, "$push": {"outbox": {**ENTRY, "id": i}}})

    async def push(ids: list[int]) -> None:
        await db.d.bulk_write([pushed(i) for i in ids], ordered=False)

    async def pull(ids: list[int]) -> None:
        ops = [UpdateOne({"_id": i}, {"$pull": {"outbox": {"id": i}}}) for i in ids]
        await db.d.bulk_write(ops, ordered=False)

    async def transaction(ids: list[int]) -> None:
        async def work(session: Any) -> None:
            ops = [UpdateOne({"_id": i}, {"$inc": {"v": 1}}) for i in ids]
            await db.d.bulk_write(ops, ordered=False, session=session)
            outbox = [{"_id": ObjectId(), **ENTRY} for _ in ids]
            await db.outbox.insert_many(outbox, session=session)

        async with client.start_session() as session:
            await session.with_transaction(
                work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
            )

    async def delete_published() -> float:
        started = cpu_seconds(pid)
        ids = [d["_id"] async for d in db.outbox.find({}, {"_id": 1}).sort("_id", 1)]
        for k in range(0, len(ids), 500):
            await db.outbox.delete_many({"_id": {"$in": ids[k : k + 500]}})
        return (cpu_seconds(pid) - started) * 1000 / max(len(ids), 1)

    print(f"store CPU per event (ms), {n} events; load {os.getloadavg()[0]:.2f}")
    try:
        for label, concurrency, chunk in (
            ("one at a time", 16, 1),
            (f"batches of {BATCH}", 4, BATCH),
        ):
            began = time.perf_counter()
            baseline = await measure(concurrency, chunk, push) + await measure(
                concurrency, chunk, pull
            )
            candidate = await measure(concurrency, chunk, transaction) + await delete_published()
            print(
                f"  {label:<16} array ($push + $pull) {baseline:6.3f}   "
                f"transaction + delete {candidate:6.3f}   ratio {candidate / baseline:5.2f}   "
                f"({time.perf_counter() - began:.1f} s)"
            )
    finally:
        await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4800)
    asyncio.run(main(parser.parse_args()))
