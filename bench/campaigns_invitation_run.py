"""An invitation run of N participants next to raw aiokafka producing N records, same run.

    eval "$(uv run crm-stack env)" && uv run python bench/campaigns_invitation_run.py 2000

(``--limit S`` reports an unfinished run as far as it got after S seconds.)

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
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bson import encode
from pymongo import monitoring
from raw_kafka import raw_kafka
from store_commands import Commands

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


def describe(name: str, command: Any) -> str:
    """The shape of a command's filter (of an aggregate, its whole pipeline), in this bench's
    notation rather than ``store_commands.filter_of``'s."""
    return str(shape(filter_of(name, command)))


COMMANDS = Commands(describe=describe)


class Stopped(Exception):
    """The deadline came first; says how far the bench got."""


async def phases(
    http: Any,
    stack: Any,
    db: Any,
    eid: str,
    size: int,
    headers: dict[str, str],
    deadline: float,
    figures: dict[str, float],
    sizes: list[int],
) -> None:
    """Select, let the selection's events out, run, see every invitation; each bounded by
    the deadline (then :class:`Stopped` says where it was)."""
    from crm_contracts.topics import CAMPAIGNS
    from crm_kit.testing import end_offsets, read_topic

    def left() -> float:
        return max(1.0, deadline - time.monotonic())

    commands = COMMANDS
    before_select = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
    t0 = time.monotonic()
    commands.phase = "select"
    try:
        selected = await asyncio.wait_for(
            http.post(
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers, timeout=3600
            ),
            timeout=left(),
        )
    except TimeoutError:
        listed = await db["participants"].count_documents({"event_id": eid})
        raise Stopped(f"selecting: {listed} of {size} listed") from None
    assert selected.json()["added"] == size, selected.text
    figures["select"] = time.monotonic() - t0
    say(f"selected {size} in {figures['select']:.1f} s")

    # The run is timed alone: first every ParticipantsAdded of the selection leaves.
    commands.phase = "drain"
    added: list[int] = [0]

    def all_added(records: list[Any]) -> bool:
        added[0] = sum(r.key == eid.encode() and b"ParticipantsAdded" in r.value for r in records)
        return added[0] >= size

    await read_topic(
        stack.kafka_bootstrap,
        CAMPAIGNS,
        since=before_select,
        stop_when=all_added,
        until_idle=0.5,
        within=left(),
    )
    if added[0] < size:
        raise Stopped(f"publishing the selection: {added[0]} of {size} ParticipantsAdded out")
    figures["added"] = time.monotonic() - t0
    say(f"every ParticipantsAdded published after {figures['added']:.1f} s")
    since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)

    commands.phase = "run"
    t1 = time.monotonic()
    run = await http.post(f"/events/{eid}/invitations", json={}, headers=headers)
    figures["start"] = time.monotonic() - t1
    last = 0.0
    while True:
        state: Any = (await http.get(run.headers["Location"], headers=headers)).json()
        if state["state"] == "done":
            break
        if time.monotonic() - last > 30:
            last = time.monotonic()
            say(f"run {last - t1:.0f} s: {state['processed']} of {state['total']}")
        if time.monotonic() > deadline:
            raise Stopped(f"running: {state['processed']} of {state['total']} processed")
        await asyncio.sleep(0.2)
    figures["run"] = time.monotonic() - t1
    assert state["total"] == size, state

    def seen(records: list[Any]) -> bool:
        mine = [r for r in records if r.key == eid.encode()]
        sizes[:] = [len(r.value) for r in mine if b"InvitationRequested" in r.value] or [0]
        return len(sizes) >= size

    await read_topic(
        stack.kafka_bootstrap,
        CAMPAIGNS,
        since=since,
        stop_when=seen,
        until_idle=0.5,
        within=left(),
    )
    if len(sizes) < size:
        raise Stopped(f"publishing the run: {len(sizes)} of {size} InvitationRequested out")
    figures["published"] = time.monotonic() - t1


def say(line: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


async def main(size: int, limit: float) -> None:
    deadline = time.monotonic() + limit
    stopped = ""
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per progress poll
    commands = COMMANDS
    monitoring.register(commands)  # before the app makes its client

    from crm_campaigns.app import CampaignsSettings, create
    from crm_kit.testing import (
        StackEndpoints,
        bearer,
        http_client,
        new_jwt_keys,
        running,
        service_env,
    )

    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    # The median of three: one produce of a few hundred records is quick and noisy.
    produced = [
        await raw_kafka(
            stack.kafka_bootstrap,
            [os.urandom(TYPICAL_RECORD)] * size,
            name="invitations",
            keys=1000,
            consume=False,
            idempotent=True,
        )
        for _ in "abc"
    ]
    raw = sorted(r.produced for r in produced)[1]

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
            figures: dict[str, float] = {}
            sizes: list[int] = [0]
            try:
                await phases(http, stack, db, eid, size, headers, deadline, figures, sizes)
            except Stopped as why:
                stopped = str(why)
            commands.phase = ""
            largest: dict[str, int] = {}
            for name in await db.list_collection_names():
                async for doc in db[name].find({}, batch_size=10_000):
                    largest[name] = max(largest.get(name, 0), len(encode(doc)))
    finally:
        shutil.rmtree(folder)

    print(f"invitation run of {size} participants (InvitationRequested ~{max(sizes)} B)")
    if stopped:
        print(f"  not finished: {stopped}")
    names = {
        "select": "select by portrait (201)",
        "added": "... its ParticipantsAdded out",
        "start": "run started (202)",
        "run": "run done (state written)",
        "published": "every InvitationRequested seen",
    }
    for key, label in names.items():
        if key in figures:
            print(f"  {label:<32}{figures[key]:8.1f} s")
    print(f"  raw aiokafka produce, same count{raw:8.2f} s  (baseline, {TYPICAL_RECORD} B each)")
    print(f"  InvitationRequested seen        {len(sizes) if max(sizes) else 0:8d}")
    if "published" in figures:
        print(f"  ratio run ÷ raw produce         {figures['published'] / raw:8.0f}")
    for phase in ("select", "drain", "run"):
        keys = [k for k in commands.seen if k[0] == phase]
        total = sum(commands.seen[k] for k in keys)
        print(f"  store commands ({phase}) {total:8d}  ({total / size:.2f} per participant)")
        print("    commands  seconds  command      collection               filter shape")
        timed = sorted(keys, key=lambda k: -commands.seconds[k])[:12]
        for key in timed:
            _, _, collection, name, filtered = key
            count, seconds = commands.seen[key], commands.seconds[key]
            print(f"    {count:8d} {seconds:8.1f}  {name:<12} {collection:<24} {filtered[:90]}")
    print("  largest document afterwards, by collection (bytes)")
    for name, biggest in sorted(largest.items(), key=lambda kv: -kv[1]):
        print(f"    {biggest:10d}  {name}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", nargs="?", type=int, default=2000)
    parser.add_argument(
        "--limit",
        type=float,
        default=3600,
        help="seconds after which an unfinished run is reported as far as it got",
    )
    args = parser.parse_args()
    asyncio.run(main(args.size, args.limit))
