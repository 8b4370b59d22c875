"""Probe: do concurrent updates of one document survive on the dev store?

Races N ``$inc`` of ``version`` against N ``$pull`` of outbox elements on one document, through
two clients, as a request's write races the outbox relay. On MongoDB the result is always
``version == N`` and ``outbox == M - N``; FerretDB v1 alone lost updates, the local store's
write-serializing proxy keeps them all (docs/decisions/0030). Prints the figures; never fails.

    eval "$(uv run crm-stack env)" && uv run python bench/proposals_lost_update_probe.py
"""

from __future__ import annotations

import asyncio
import os
import uuid
from typing import Any

from pymongo import AsyncMongoClient

N = 300
M = 2_000


async def main() -> None:
    uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    name = f"bench_proposals_race_{uuid.uuid4().hex[:8]}"
    writer: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    relay: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    try:
        await writer[name].d.insert_one(
            {"_id": "x", "version": 0, "outbox": [{"id": i} for i in range(M)]}
        )

        async def increments() -> None:
            for _ in range(N):
                await writer[name].d.find_one_and_update({"_id": "x"}, {"$inc": {"version": 1}})

        async def pulls() -> None:
            for i in range(N):
                await relay[name].d.update_one({"_id": "x"}, {"$pull": {"outbox": {"id": i}}})

        await asyncio.gather(increments(), pulls())
        doc = await writer[name].d.find_one({"_id": "x"})
        assert doc is not None
        print(f"increments kept: {doc['version']} of {N}")
        print(f"outbox left: {len(doc['outbox'])} (expected {M - N})")
    finally:
        await writer.drop_database(name)
        await writer.close()
        await relay.close()


if __name__ == "__main__":
    asyncio.run(main())
