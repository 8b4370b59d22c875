"""An invitation run of N participants next to raw aiokafka producing N records, same run.

    eval "$(uv run crm-stack env)" && uv run python bench/campaigns_invitation_run.py 2000

The campaigns app runs in process on the configured store and broker (no HTTP server). It
prints the time to select N participants by portrait, to finish the run and to see every
InvitationRequested on the topic; the store commands the run sent (by collection and kind);
and the time aiokafka takes to produce N records of the same size (acks=all, idempotent) to a
throw-away topic, measured in the same process just before (the median of three). The ratio
run ÷ raw produce is the figure to compare across changes (docs/decisions/0020). Figures only;
never part of the test run's pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from bson import encode
from pymongo import monitoring

TYPICAL_RECORD = 1000
"""Bytes of one InvitationRequested envelope (measured: about 1 kB with the signed link)."""


def shape(value: Any) -> Any:
    """A filter with its values left out: operators and field names only."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return "?"


def filter_of(name: str, command: Any) -> Any:
    if name == "find":
        return command.get("filter", {})
    if name in ("count", "findAndModify"):
        return command.get("query", {})
    if name in ("update", "delete"):
        statements = command.get("updates") or command.get("deletes") or [{}]
        return statements[0].get("q", {})
    if name == "aggregate":
        return command.get("pipeline", [])
    return None


class Commands(monitoring.CommandListener):
    """Counts the store commands sent while ``on`` is set, by collection, command name and
    filter shape."""

    def __init__(self) -> None:
        self.on = False
        self.seen: Counter[tuple[str, str, str]] = Counter()
        self.seconds: Counter[tuple[str, str, str]] = Counter()
        self._keys: dict[int, tuple[str, str, str]] = {}
        self._cursors: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.on and event.command_name not in ("endSessions", "killCursors"):
            target = event.command.get(event.command_name)
            filtered = str(shape(filter_of(event.command_name, event.command)))
            if event.command_name == "getMore":
                target = event.command.get("collection")
                filtered = self._cursors.get(int(event.command.get("getMore", 0)), "?")
            key = (str(target), event.command_name, filtered)
            self.seen[key] += 1
            self._keys[event.request_id] = key

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        key = self._keys.pop(event.request_id, None)
        if key is not None:
            self.seconds[key] += event.duration_micros / 1e6
            cursor = event.reply.get("cursor") if isinstance(event.reply, dict) else None
            if isinstance(cursor, dict) and cursor.get("id"):
                self._cursors[int(cursor["id"])] = key[2]

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._keys.pop(event.request_id, None)


async def raw_produce(bootstrap: str, count: int, size: int) -> float:
    """Seconds for aiokafka to produce ``count`` records and have every one acknowledged."""
    topic = f"bench.invitations.raw.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
        )
        await producer.start()
        payload = os.urandom(size)
        try:
            started = time.perf_counter()
            futures = [
                await producer.send(topic, payload, key=str(i % 1000).encode())
                for i in range(count)
            ]
            await asyncio.gather(*futures)
            return time.perf_counter() - started
        finally:
            await producer.stop()
    finally:
        await admin.delete_topics([topic])
        await admin.close()


async def main(size: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per progress poll
    commands = Commands()
    monitoring.register(commands)  # before the app makes its client

    from crm_campaigns.app import CampaignsSettings, create
    from crm_contracts.topics import CAMPAIGNS
    from crm_kit.testing import (
        StackEndpoints,
        bearer,
        end_offsets,
        http_client,
        new_jwt_keys,
        read_topic,
        running,
        service_env,
    )

    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    # The median of three: one produce of a few hundred records is quick and noisy.
    raw = sorted([await raw_produce(stack.kafka_bootstrap, size, TYPICAL_RECORD) for _ in "abc"])[1]

    folder = tempfile.mkdtemp(prefix="bench-campaigns-")
    keys = new_jwt_keys(Path(folder))
    app = create(CampaignsSettings(**service_env(stack, keys, "campaigns")))
    headers = bearer(keys, "campaigns:read", "campaigns:write")
    tag = f"bench{uuid.uuid4().hex[:6]}"
    try:
        async with running(app), http_client(app) as http:
            db = app.state.runtime.db
            await db["client_projection"].insert_one(
                {"_id": tag, "name": tag, "kind": "organisation", "status": "active",
                 "tags": [tag], "version": 1}
            )  # fmt: skip
            people = [
                {"_id": f"{tag}-{i}", "client_id": tag, "name": f"P{i}", "language": "en",
                 "channels": {"email": f"p{i}@example.com"}, "preferred_channel": "email",
                 "consented": ["email"], "version": 1}
                for i in range(size)
            ]  # fmt: skip
            for start in range(0, size, 1000):
                await db["people_projection"].insert_many(people[start : start + 1000])
            programme = await http.post(
                "/programmes",
                json={"name": "bench", "portrait": {"tags": [tag]}, "starts_on": "2031-01-01",
                      "ends_on": "2031-12-31"},
                headers=headers,
            )  # fmt: skip
            event = await http.post(
                "/events",
                json={"kind": "seminar", "title": "bench", "place": {"venue": "v"},
                      "starts_at": "2031-05-01T10:00:00Z", "ends_at": "2031-05-01T12:00:00Z",
                      "timezone": "UTC", "programme_id": programme.json()["id"]},
                headers=headers,
            )  # fmt: skip
            eid = event.json()["id"]
            t0 = time.monotonic()
            selected = await http.post(
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers, timeout=3600
            )
            assert selected.json()["added"] == size, selected.text
            select_s = time.monotonic() - t0
            since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)

            commands.on = True
            t1 = time.monotonic()
            run = await http.post(
                f"/events/{eid}/invitations", json={}, headers=headers, timeout=3600
            )
            start_s = time.monotonic() - t1
            assert run.json()["total"] == size, run.text
            while True:
                state: Any = (await http.get(run.headers["Location"], headers=headers)).json()
                if state["state"] == "done":
                    break
                await asyncio.sleep(0.2)
            run_s = time.monotonic() - t1
            sizes: list[int] = []

            def seen(records: list[Any]) -> bool:
                mine = [r for r in records if r.key == eid.encode()]
                sizes[:] = [len(r.value) for r in mine if b"InvitationRequested" in r.value]
                return len(sizes) >= size

            await read_topic(
                stack.kafka_bootstrap,
                CAMPAIGNS,
                since=since,
                stop_when=seen,
                until_idle=0.5,
                within=3600,
            )
            published_s = time.monotonic() - t1
            commands.on = False
            largest: dict[str, int] = {}
            for name in await db.list_collection_names():
                async for doc in db[name].find({}):
                    largest[name] = max(largest.get(name, 0), len(encode(doc)))
    finally:
        shutil.rmtree(folder)

    print(f"invitation run of {size} participants (InvitationRequested ~{max(sizes)} B)")
    print(f"  select by portrait              {select_s:8.1f} s")
    print(f"  run started (202, ids chunked)  {start_s:8.1f} s")
    print(f"  run done (state written)        {run_s:8.1f} s")
    print(f"  every InvitationRequested seen  {published_s:8.1f} s")
    print(f"  raw aiokafka produce, same count{raw:8.2f} s  (baseline, {TYPICAL_RECORD} B each)")
    print(f"  ratio run ÷ raw produce         {published_s / raw:8.0f}")
    total = sum(commands.seen.values())
    print(f"  store commands during the run   {total:8d}  ({total / size:.2f} per participant)")
    print("    commands  seconds  command      collection               filter shape")
    for (collection, name, filtered), seconds in commands.seconds.most_common(14):
        count = commands.seen[(collection, name, filtered)]
        print(f"    {count:8d} {seconds:8.1f}  {name:<12} {collection:<24} {filtered[:90]}")
    print("  largest document afterwards, by collection (bytes)")
    for name, biggest in sorted(largest.items(), key=lambda kv: -kv[1]):
        print(f"    {biggest:10d}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=2000)
    asyncio.run(main(parser.parse_args().size))
