"""The outbox relay's change stream read as the relay opens it, against the whole change.

    uv run python bench/change_stream_read.py [--count 5000] [--rounds 3]

Needs the local stack's MongoDB (`uv run crm-stack up`; `CRM_MONGO_URI`, or the stack's
default). Each round inserts ``--count`` outbox documents of an invitation's size into a
scratch database, 50 to a transaction as the fan-out writes them, and reads their inserts
back from a change stream opened before the writes: once with the relay's pipeline
(``crm_kit.relay.STREAM_PIPELINE``: the inserted document and the resume token alone), once
with the whole change (the baseline). It prints this process's CPU per change read and the
ratio to the baseline of the same round. Figures only, never part of pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid
from typing import Any

import uvloop
from bson import ObjectId
from crm_kit.relay import STREAM_PIPELINE
from pymongo import AsyncMongoClient
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

VALUE = json.dumps({"event_id": str(uuid.uuid4()), "payload": {"text": "x" * 900}})
"""About an InvitationRequested envelope's size."""


def _entry() -> dict[str, Any]:
    return {
        "_id": ObjectId(),
        "event_id": str(uuid.uuid4()),
        "event_type": "InvitationRequested",
        "topic": "crm.campaigns.v1",
        "key": str(uuid.uuid4()),
        "correlation_id": str(uuid.uuid4()),
        "occurred_at": None,
        "actor": {"app": "bench", "employee_id": None},
        "value": VALUE,
    }


async def read_cost(client: AsyncMongoClient[Any], pipeline: list[Any], count: int) -> float:
    """This process's CPU per change read, in microseconds."""
    db = client[f"bench_stream_{uuid.uuid4().hex[:8]}"]
    outbox = db["outbox"]
    await db.create_collection("outbox")
    try:
        async with await outbox.watch(pipeline, max_await_time_ms=200, batch_size=500) as stream:
            for start in range(0, count, 50):
                docs = [_entry() for _ in range(min(50, count - start))]

                async def work(session: AsyncClientSession, docs: list[Any] = docs) -> None:
                    await outbox.insert_many(docs, session=session)

                async with client.start_session() as session:
                    await session.with_transaction(
                        work,
                        read_concern=ReadConcern("snapshot"),
                        write_concern=WriteConcern("majority"),
                    )
            read = 0
            started = time.process_time()
            while read < count:
                change = await stream.try_next()
                if change is not None:
                    assert change["fullDocument"]["value"] == VALUE
                    read += 1
            return (time.process_time() - started) / count * 1e6
    finally:
        await client.drop_database(db.name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017/?replicaSet=rs0")
    client: AsyncMongoClient[Any] = AsyncMongoClient(uri)
    whole = [{"$match": {"operationType": "insert"}}]
    try:
        for n in range(1, args.rounds + 1):
            base = await read_cost(client, whole, args.count)
            relay = await read_cost(client, STREAM_PIPELINE, args.count)
            print(
                f"round {n}: the whole change {base:6.1f} us, the relay's pipeline "
                f"{relay:6.1f} us of CPU a change read (ratio {relay / base:.2f})"
            )
    finally:
        await client.close()


if __name__ == "__main__":
    uvloop.run(main())
