"""What a batch of guarded updates costs the store: one statement per document, or grouped.

    eval "$(uv run crm-stack env)" && uv run python bench/guarded_updates.py [--batches 100]

A scratch database on the stack's mongod, a collection with the fan-out's kind of documents
(~1.3 kB, four secondary indexes). Each way writes ``--batches`` batches of ``--size``
documents, each document guarded by what it was read as and given the same update as the rest
of its batch, as campaigns' invitation run and notify's claim do:

  - ``one statement each``: a bulk command of ``UpdateOne({"_id", **guard}, update)``, as
    before 2026-12-07 22:20 UTC;
  - ``grouped``: ``crm_kit.bulk.guarded_updates`` (one ``UpdateMany`` over the batch's ids);

outside a transaction (notify's claim) and inside one with an outbox-sized insert per document
(campaigns' invited write). Prints mongod's CPU (/proc) and this process's CPU a document, and
the ratio grouped ÷ one statement each of the same round. Figures only.
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_kit.bulk import guarded_updates
from crm_stack.stack import store_pid
from proc import cpu_seconds
from pymongo import MongoClient, UpdateOne
from pymongo.collection import Collection
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

Doc = dict[str, Any]


def documents(size: int, past: datetime) -> list[Doc]:
    return [
        {
            "_id": str(uuid.uuid4()),
            "status": "pending",
            "attempts": 0,
            "version": 1,
            "next_attempt_at": past,
            "log_keys": ["s:pending", "*", f"r:{uuid.uuid4()}", "k:invitation"],
            "seq": f"{past.isoformat()}|{i}",
            "payload": "x" * 1200,
        }
        for i in range(size)
    ]


def triples(batch: list[Doc], now: datetime) -> list[tuple[Any, Doc, Doc]]:
    guard = {
        "attempts": 0,
        "status": {"$in": ["pending", "retrying"]},
        "next_attempt_at": {"$lte": now},
    }
    update = {
        "$set": {
            "status": "sending",
            "lease": "t",
            "claimed_at": now,
            "next_attempt_at": now + timedelta(minutes=2),
        },
        "$inc": {"attempts": 1, "version": 1},
    }
    return [(d["_id"], guard, update) for d in batch]


def one_each(batch: list[Doc], now: datetime) -> list[Any]:
    return [UpdateOne({"_id": i, **g}, u) for i, g, u in triples(batch, now)]


def grouped(batch: list[Doc], now: datetime) -> list[Any]:
    return guarded_updates(triples(batch, now))


def run(
    client: MongoClient[Doc],
    collection: Collection[Doc],
    batches: list[list[Doc]],
    statements: Callable[[list[Doc], datetime], list[Any]],
    in_transaction: bool,
) -> None:
    outbox = collection.database["outbox"]
    for batch in batches:
        ops = statements(batch, datetime.now(UTC))
        if not in_transaction:
            result = collection.bulk_write(ops, ordered=False)
        else:
            with (
                client.start_session() as session,
                session.start_transaction(
                    read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
                ),
            ):
                result = collection.bulk_write(ops, ordered=False, session=session)
                outbox.insert_many([{"value": "v" * 1000} for _ in batch], session=session)
        assert result.modified_count == len(batch), result.modified_count


def main(args: argparse.Namespace) -> None:
    client: MongoClient[Doc] = MongoClient(os.environ["CRM_MONGO_URI"])
    db = client[f"bench_guarded_{uuid.uuid4().hex[:8]}"]
    collection = db["notifications"]
    for keys in (
        [("status", 1), ("attempts", 1), ("next_attempt_at", 1)],
        [("log_keys", 1), ("seq", -1)],
        [("lease", 1)],
        [("next_attempt_at", 1)],
    ):
        collection.create_index(keys)
    db.create_collection("outbox")
    pid = store_pid()
    past = datetime.now(UTC) - timedelta(minutes=1)
    print(f"{args.batches} batches of {args.size}; load {os.getloadavg()[0]:.2f}")
    try:
        for round_ in range(1, args.rounds + 1):
            for in_transaction in (False, True):
                where = "in a transaction" if in_transaction else "no transaction"
                figures = {}
                for name, statements in (("one statement each", one_each), ("grouped", grouped)):
                    batches = [documents(args.size, past) for _ in range(args.batches)]
                    for batch in batches:
                        collection.insert_many(batch)
                    store0, own0 = cpu_seconds(pid), time.process_time()
                    run(client, collection, batches, statements, in_transaction)
                    n = args.batches * args.size
                    store = (cpu_seconds(pid) - store0) * 1e6 / n
                    own = (time.process_time() - own0) * 1e6 / n
                    figures[name] = store
                    print(f"  {round_} {where:<17} {name:<19} mongod {store:6.1f} µs, "
                          f"this process {own:5.1f} µs a document", flush=True)  # fmt: skip
                ratio = figures["grouped"] / figures["one statement each"]
                print(f"  {round_} {where:<17} mongod grouped ÷ one each {ratio:.2f}")
    finally:
        client.drop_database(db.name)
        client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=100)
    parser.add_argument("--size", type=int, default=48, help="documents a batch (notify's claim)")
    parser.add_argument("--rounds", type=int, default=3)
    main(parser.parse_args())
