"""What one REST registration and one read by id cost the store, in the contacts app in process.

    eval "$(uv run crm-stack env)" && uv run python bench/rest_contacts_commands.py [--requests 300]

The companion of `bench/rest_contacts.py` for finding out why the service is slower than the
bare loop: the contacts app runs in this process (own database and consumer group via
`crm_kit.testing.service_env`, no HTTP server, the same request bodies), ``--requests``
registrations then as many reads at ``--concurrency``, while pymongo command monitoring counts
the commands by collection, command and filter shape with the time the store took to answer.
Prints the commands per request and the largest kinds, and the rate in process next to nothing
(no baseline: this is a profile, `bench/rest_contacts.py` has the rates). Not part of any test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from pymongo import AsyncMongoClient, monitoring
from store_commands import Commands


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
        commands = Commands(env["mongo_database"])
        monitoring.register(commands)  # before the app makes its client
        app = create(ContactsSettings(**env))  # type: ignore[arg-type]
        headers = bearer(keys, "contacts:read", "contacts:write")
        ids: list[str] = []
        run = uuid.uuid4().hex[:8]
        try:
            async with running(app), http_client(app) as http:

                async def register(i: int) -> None:
                    r = await http.post(
                        "/clients",
                        json={"name": f"Bench {run} client {i}", "region": "Bench"},
                        headers=headers,
                    )
                    assert r.status_code == 201, r.text
                    ids.append(r.json()["id"])

                async def read(i: int) -> None:
                    r = await http.get(f"/clients/{ids[i % len(ids)]}", headers=headers)
                    assert r.status_code == 200, r.text

                commands.phase = "register"
                register_s = await drive(args.requests, args.concurrency, register)
                commands.phase = "read"
                read_s = await drive(args.requests, args.concurrency, read)
                commands.phase = ""
        finally:
            mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
            with contextlib.suppress(Exception):
                await mongo.drop_database(env["mongo_database"])
            await mongo.close()

    n = args.requests
    print(f"contacts in process, {n} requests per operation at concurrency {args.concurrency}")
    for phase, took in (("register", register_s), ("read", read_s)):
        keys_of = [k for k in commands.seen if k[0] == phase]
        total = sum(commands.seen[k] for k in keys_of)
        store = sum(commands.seconds[k] for k in keys_of)
        print(f"  {phase}: {n / took:.0f} req/s in process; {total / n:.2f} store commands per "
              f"request, {store:.1f} s of store time summed over {took:.1f} s")  # fmt: skip
        print("      commands  seconds  ms each  command        collection  filter")
        for key in sorted(keys_of, key=lambda k: -commands.seconds[k])[: args.top]:
            count, seconds = commands.seen[key], commands.seconds[key]
            print(f"      {count:8d} {seconds:8.1f} {seconds / count * 1000:8.2f}  "
                  f"{key[3]:<14} {key[2]}  {key[4]}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--top", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
