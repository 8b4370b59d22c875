"""What one REST registration and one read by id cost the store, in the contacts app in process.

    eval "$(uv run crm-stack env)" && uv run python bench/rest_contacts_commands.py [--requests 300]

The companion of `bench/rest_contacts.py`: the list of store commands its bare loop has to
mirror, and where to look when the service is slower than that loop. The contacts app runs in
this process (own database and consumer group via `crm_kit.testing.service_env`, no HTTP
server, the same request bodies), ``--requests`` registrations then as many reads at
``--concurrency``, while pymongo command monitoring counts the commands by collection, command
and filter shape (a transaction's commit under the service's database) with the time the store
took to answer (for the relay's change stream, the time its ``getMore`` waited for an
insert). The registrations' round lasts until the consumer has put every one on the
timeline, so it holds the relay's and the consumer's commands too, and the reads' round holds
only the reads. Prints the commands per request and the largest kinds, and the rate in process
next to nothing (no baseline: this is a profile, `bench/rest_contacts.py` has the rates). On a
shared stack the consumer also reads what other writers publish on the topics it follows, and
those commands count as well. Not part of any test.

With ``--sizes 0,5000,15000`` it profiles only registrations, once per size of the client base:
before each round it loads clients straight into the store up to that size (documents of the
service's shape, search terms and match keys included, no events), then registers
``--requests`` clients as above.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from store_commands import Commands, filter_of


def described(name: str, command: Any) -> str:
    """The filter's shape, and for an update its operators (``$max``, ``$inc``…), which tell
    apart two updates by ``_id`` of one collection."""
    found = filter_of(name, command)
    if name == "update":
        first = (command.get("updates") or [{}])[0].get("u") or {}
        found += " " + ",".join(k for k in first if k.startswith("$"))
    return found


async def drive(count: int, concurrency: int, call: Any) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await call(queue.get_nowait())

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.monotonic() - started


async def load(db: Any, first: int, count: int, run: str) -> None:
    """``count`` more clients straight into the store (no events): the indexes on their
    fields are all there is to fill."""
    from crm_contacts import domain
    from crm_contacts.repository.documents import client_doc
    from crm_contracts.values import ClientKind, ClientStatus

    base = datetime(2026, 1, 1, tzinfo=UTC)
    for start in range(first, first + count, 500):
        docs = []
        for i in range(start, min(first + count, start + 500)):
            client = domain.Client(
                client_id=str(uuid.uuid4()),
                kind=ClientKind.ORGANISATION,
                name=f"Loaded {run} client {i}",
                status=ClientStatus.ACTIVE,
                registered_at=base + timedelta(seconds=i),
                region="Bench",
            )
            docs.append({**client_doc(client), "version": 1})
        await db["clients"].insert_many(docs)


async def on_timeline(db: Any, ids: list[str]) -> int:
    found = 0
    for start in range(0, len(ids), 400):
        wanted = [f"registered:{i}" for i in ids[start : start + 400]]
        found += len(await db["timeline"].find({"_id": {"$in": wanted}}, {"_id": 1}).to_list())
    return found


async def main(args: argparse.Namespace) -> None:
    from crm_contacts.app import ContactsSettings, create
    from crm_kit.testing import (
        StackEndpoints,
        bearer,
        http_client,
        new_jwt_keys,
        running,
        service_env,
    )

    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as folder:
        keys = new_jwt_keys(Path(folder))
        env = service_env(stack, keys, "contacts", log_level="WARNING")
        commands = Commands(env["mongo_database"], described)
        monitoring.register(commands)  # before the app makes its client
        app = create(ContactsSettings(**env))  # type: ignore[arg-type]
        headers = bearer(keys, "contacts:read", "contacts:write")
        ids: list[str] = []
        rounds: list[tuple[str, float, float]] = []
        run = uuid.uuid4().hex[:8]
        try:
            async with running(app), http_client(app) as http:

                async def register(i: int) -> None:
                    r = await http.post(
                        "/clients",
                        json={
                            "name": f"Bench {run} round {len(rounds)} client {i}",
                            "region": "Bench",
                        },
                        headers=headers,
                    )
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])

                async def read(i: int) -> None:
                    r = await http.get(f"/clients/{ids[i % len(ids)]}", headers=headers)
                    assert r.status_code == 200, r.text

                async def registrations(phase: str) -> None:
                    """Register, then wait until the consumer has put every one on the
                    timeline (at most ten minutes)."""
                    ids.clear()
                    commands.phase = phase
                    started = time.monotonic()
                    took = await drive(args.requests, args.concurrency, register)
                    for _ in range(3000):
                        if await on_timeline(db, ids) == len(ids):
                            break
                        await asyncio.sleep(0.2)
                    commands.phase = ""
                    rounds.append((phase, took, time.monotonic() - started))

                db = app.state.runtime.db
                if args.sizes:
                    have = 0
                    for size in args.sizes:
                        await load(db, have, size - have, run)
                        await registrations(f"register@{size}")
                        have = size + args.requests
                else:
                    await registrations("register")
                    commands.phase = "read"
                    read_s = await drive(args.requests, args.concurrency, read)
                    commands.phase = ""
                    rounds.append(("read", read_s, 0.0))
        finally:
            mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
            with contextlib.suppress(Exception):
                await mongo.drop_database(env["mongo_database"])
            await mongo.close()

    n = args.requests
    print(f"contacts in process, {n} requests per operation at concurrency {args.concurrency}")
    for phase, took, settled in rounds:
        keys_of = [k for k in commands.seen if k[0] == phase]
        total = sum(commands.seen[k] for k in keys_of)
        store = sum(commands.seconds[k] for k in keys_of)
        print(f"  {phase}: {n / took:.0f} req/s in process; {total / n:.2f} store commands per "
              f"request, {store:.1f} s of store time summed over {took:.1f} s"
              + (f" (consumer done after {settled:.1f} s)" if settled else ""))  # fmt: skip
        print("      commands  seconds  ms each  command        collection  filter")
        for key in sorted(keys_of, key=lambda k: -commands.seconds[k])[: args.top]:
            count, seconds = commands.seen[key], commands.seconds[key]
            print(f"      {count:8d} {seconds:8.1f} {seconds / count * 1000:8.2f}  "
                  f"{key[3]:<14} {key[2]}  {key[4]}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[],
        help="profile registrations at each of these numbers of existing clients (0,5000,…)",
    )
    asyncio.run(main(parser.parse_args()))
