"""Invitation fan-out, the headline: one event with N participants, from the call to the mailbox.

    eval "$(uv run crm-stack env)" && uv run python bench/fanout.py [--count 10000]

Campaigns and notify run in this process against the configured stack, each with its own
database and consumer group (`crm_kit.testing.service_env`); an SMTP server here (aiosmtpd)
accepts and counts the messages. The people arrive as contacts' `PersonAdded` events (after
one `ClientRegistered`), so both services' projections fill the way they do in production;
by default only the first goes through the services and the others are copies of the documents
it produced (`--seed events` sends all N through them, which makes the set-up longer; the set-up
is not what is timed).
Then: a programme whose portrait is the client's tag, an event, its participants selected by
portrait, and the invitation run (`POST /events/{id}/invitations`). Timed from that call:

  - every `InvitationRequested` of the event on the campaigns topic (a consumer here counts
    them as they arrive),
  - every message accepted by the SMTP server.

Baseline, measured in the same run before the services start: raw aiokafka producing the same
count of records of the same size (acks=all) to a throw-away topic and consuming them back with
a fresh group. Prints invitations per second and the ratio service ÷ raw. It also counts the
store commands each service sent during the run (by database, collection, command and filter
shape) with the time the store took to answer them, which is where the run's time goes.

Notify's e-mail rate limit is lifted for the run (the default, 50 per second per process, would
be the limit by itself; docs/decisions/0040). Figures only; never part of pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from crm_kit.testing import stack_kafka_options
from guests import guest
from proc import cpu_seconds
from pymongo import AsyncMongoClient, monitoring
from raw_kafka import raw_kafka
from store_commands import Commands

TYPICAL_RECORD = 1000
"""Bytes of one InvitationRequested envelope with its signed link (printed from the run too)."""


class TopicWatch:
    """Counts one event's InvitationRequested on the campaigns topic from given offsets."""

    def __init__(self, bootstrap: str, topic: str, since: dict[int, int], key: bytes) -> None:
        self.bootstrap, self.topic, self.since, self.key = bootstrap, topic, since, key
        self.count = 0
        self.sizes: list[int] = []
        self.all_at: float | None = None

    async def run(self, expected: int) -> None:
        consumer = AIOKafkaConsumer(**stack_kafka_options(self.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(self.topic, p) for p in self.since]
            consumer.assign(tps)
            for tp in tps:
                consumer.seek(tp, self.since[tp.partition])
            while self.count < expected:
                batch = await consumer.getmany(timeout_ms=200, max_records=2000)
                for records in batch.values():
                    for r in records:
                        if r.key == self.key and b"InvitationRequested" in r.value:
                            self.count += 1
                            self.sizes.append(len(r.value))
            self.all_at = time.monotonic()
        finally:
            await consumer.stop()


async def publish(producer: AIOKafkaProducer, events: Sequence[Any]) -> None:
    from crm_contracts.envelope import Envelope

    sent = []
    for event in events:
        envelope = Envelope.wrap(event, producer="bench")
        sent.append(
            await producer.send(event.topic, envelope.to_bytes(), key=envelope.key.encode())
        )
    await asyncio.gather(*sent)


def people(domain: str, client_id: str, count: int) -> list[Any]:
    return [guest(n, f"guest{n}{domain}", client_id) for n in range(count)]


async def copy_people(collection: Any, guests: list[Any], key: Any) -> None:
    """Every guest after the first, copied from the document the projection wrote for it."""
    template = await collection.find_one({"_id": key(guests[0])})
    assert template is not None
    first = guests[0]

    def swap(value: Any, guest: Any) -> Any:
        if isinstance(value, str):
            for old, new in ((first.person_id, guest.person_id), (first.name, guest.name),
                             (first.channels.email, guest.channels.email)):  # fmt: skip
                value = value.replace(old, new) if old else value
            return value
        if isinstance(value, dict):
            return {k: swap(v, guest) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v, guest) for v in value]
        return value

    docs = [swap(template, guest) for guest in guests[1:]]
    for start in range(0, len(docs), 1000):
        await collection.insert_many(docs[start : start + 1000], ordered=False)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_pid() -> int | None:
    """The mongod of the crm-stack this bench runs against (its pid file), if any."""
    from crm_stack.stack import store_pid

    return store_pid()


async def main(args: argparse.Namespace) -> None:
    commands = Commands()
    monitoring.register(commands)  # before the apps make their clients

    from crm_campaigns.app import create as create_campaigns
    from crm_campaigns.settings import CampaignsSettings
    from crm_contracts.contacts import ClientRegistered, ClientSource
    from crm_contracts.topics import CAMPAIGNS
    from crm_contracts.values import Channel, ClientKind, ClientSourceKind, ClientStatus
    from crm_kit.testing import (
        CountingSmtp,
        StackEndpoints,
        bearer,
        end_offsets,
        http_client,
        new_jwt_keys,
        running,
        service_env,
        smtp_server,
    )
    from crm_notify.app import create as create_notify
    from crm_notify.settings import NotifySettings

    count = args.count
    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    run = uuid.uuid4().hex[:8]
    tag = f"fanout-{run}"
    smtp = CountingSmtp(f"@{run}.fanout.bench", expected=count)

    print(f"fan-out of {count} on {stack.kafka_bootstrap} / {stack.mongo_uri}", flush=True)
    raw = await raw_kafka(
        stack.kafka_bootstrap, [os.urandom(TYPICAL_RECORD)] * count, name="fanout", keys=1000
    )
    raw_produce, raw_both = raw.produced, raw.consumed
    print(f"baseline: produced in {raw_produce:.1f} s, and consumed back by {raw_both:.1f} s",
          flush=True)  # fmt: skip

    folder = tempfile.mkdtemp(prefix="bench-fanout-")
    keys = new_jwt_keys(Path(folder))
    servers = contextlib.ExitStack()
    smtp_port = servers.enter_context(smtp_server(smtp))
    campaigns_env = service_env(stack, keys, "campaigns", log_level="WARNING")
    notify_env = service_env(
        stack,
        keys,
        "notify",
        log_level="WARNING",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        gateway_url=None,
        worker_poll_s=0.05,
    )
    notify_settings = NotifySettings(
        **{**notify_env, "rate_limits": {Channel.EMAIL: 1_000_000.0}}  # type: ignore[arg-type]
    )
    campaigns = create_campaigns(CampaignsSettings(**campaigns_env))  # type: ignore[arg-type]
    notify = create_notify(notify_settings)
    headers = bearer(keys, "campaigns:read", "campaigns:write")
    client_id = str(uuid.uuid4())
    client = ClientRegistered(
        client_id=client_id,
        kind=ClientKind.ORGANISATION,
        name=f"Bench {tag}",
        status=ClientStatus.ACTIVE,
        tags=(tag,),
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=1,
        registered_at=datetime.now(UTC),
    )
    guests = people(smtp.domain, client_id, count)
    producer = AIOKafkaProducer(
        **stack_kafka_options(stack.kafka_bootstrap), acks="all", linger_ms=5
    )
    await producer.start()
    watch_task: asyncio.Task[None] | None = None
    try:
        async with running(campaigns), running(notify), http_client(campaigns) as http:
            cdb, ndb = campaigns.state.runtime.db, notify.state.runtime.db
            t_load = time.monotonic()
            if args.seed == "events":
                await publish(producer, [client, *guests])
            else:
                await publish(producer, [client, guests[0]])
            loaded = count if args.seed == "events" else 1
            while True:
                held_c = await cdb["people_projection"].count_documents({})
                held_n = await ndb["recipients"].count_documents({})
                if held_c >= loaded and held_n >= loaded:
                    break
                if time.monotonic() - t_load > args.timeout:
                    raise SystemExit(f"bench: projections hold {held_c} and {held_n} of {loaded}")
                await asyncio.sleep(1.0)
            if args.seed == "copies":
                await copy_people(cdb["people_projection"], guests, lambda p: p.person_id)
                await copy_people(ndb["recipients"], guests, lambda p: f"person:{p.person_id}")
            load_s = time.monotonic() - t_load
            print(f"both projections hold {count} people after {load_s:.1f} s", flush=True)

            programme = await http.post(
                "/programmes",
                json={"name": tag, "portrait": {"tags": [tag]}, "starts_on": "2031-01-01",
                      "ends_on": "2031-12-31"},
                headers=headers,
            )  # fmt: skip
            assert programme.status_code == 201, programme.text
            event = await http.post(
                "/events",
                json={"kind": "seminar", "title": "Bench seminar", "place": {"venue": "Hall 1"},
                      "starts_at": "2031-05-01T10:00:00Z", "ends_at": "2031-05-01T12:00:00Z",
                      "timezone": "UTC", "programme_id": programme.json()["id"]},
                headers=headers,
            )  # fmt: skip
            assert event.status_code == 201, event.text
            eid = event.json()["id"]
            t_select = time.monotonic()
            selected = await http.post(
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers, timeout=3600
            )
            assert selected.status_code in (200, 201), selected.text
            select_s = time.monotonic() - t_select
            print(f"{selected.json().get('added')} participants selected in {select_s:.1f} s",
                  flush=True)  # fmt: skip

            since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
            watch = TopicWatch(stack.kafka_bootstrap, CAMPAIGNS, since, eid.encode())
            watch_task = asyncio.create_task(watch.run(count))
            await asyncio.sleep(1.0)  # the watching consumer is assigned and positioned

            commands.phase = "run"
            incomplete = False
            store_pid = _store_pid()
            cpu0 = (cpu_seconds(store_pid), cpu_seconds(os.getpid()))
            t0 = time.monotonic()
            answer = await http.post(f"/events/{eid}/invitations", json={}, headers=headers)
            assert answer.status_code == 202, answer.text
            call_s = time.monotonic() - t0
            last = t0
            while smtp.all_at is None:
                await asyncio.sleep(0.25)
                now = time.monotonic()
                if now - last >= 10:
                    last = now
                    print(f"  {now - t0:6.1f} s: {watch.count} on the topic, "
                          f"{smtp.count} accepted by SMTP", flush=True)  # fmt: skip
                if now - t0 > args.timeout:
                    incomplete = True
                    break
                if watch_task.done() and watch_task.exception() is not None:
                    raise SystemExit(f"bench: topic watch failed: {watch_task.exception()!r}")
            else:
                await watch_task
            commands.phase = ""
            ended = time.monotonic()
            store_cpu = cpu_seconds(store_pid) - cpu0[0]
            own_cpu = cpu_seconds(os.getpid()) - cpu0[1]
            on_topic, delivered = watch.count, smtp.count
            # When the run did not finish in time, the times are up to the stop, the counts partial.
            topic_s = (watch.all_at or ended) - t0
            smtp_s = (smtp.all_at or ended) - t0
            first_s = (smtp.first_at or ended) - t0
            if not incomplete:
                await asyncio.sleep(1.0)  # a late duplicate would arrive now
    finally:
        if watch_task is not None and not watch_task.done():
            watch_task.cancel()
        await producer.stop()
        servers.close()
        shutil.rmtree(folder)
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
        for name in (campaigns_env["mongo_database"], notify_env["mongo_database"]):
            with contextlib.suppress(Exception):
                await mongo.drop_database(name)
        await mongo.close()

    rate = delivered / smtp_s
    raw_rate = count / raw_both
    twice = sum(1 for n in smtp.received.values() if n > 1)
    print()
    sizes = f"{min(watch.sizes, default=0)}-{max(watch.sizes, default=0)} B"
    print(f"invitation fan-out of {count} participants (InvitationRequested {sizes})")
    print(f"  people into both projections      {load_s:8.1f} s  (not timed; seed: {args.seed})")
    print(f"  select by portrait                {select_s:8.1f} s  (not timed)")
    print(f"  invitation call answered          {call_s:8.2f} s")
    if incomplete:
        print(f"  NOT FINISHED within {args.timeout:.0f} s: {on_topic} of {count} on the topic, "
              f"{delivered} accepted by SMTP; the rates below are of what was done")  # fmt: skip
    print(f"  every InvitationRequested on topic{topic_s:8.1f} s  ({on_topic / topic_s:8.1f} /s)")
    print(f"  first message at the SMTP server  {first_s:8.1f} s")
    print(f"  every message at the SMTP server  {smtp_s:8.1f} s  ({rate:8.1f} /s)")
    print(f"  accepted twice                    {twice:8d}")
    print(f"  raw aiokafka produce, same count  {raw_produce:8.1f} s  "
          f"({count / raw_produce:8.0f} /s, {TYPICAL_RECORD} B, acks=all)")  # fmt: skip
    print(f"  raw produce + consume back        {raw_both:8.1f} s  ({raw_rate:8.0f} /s)")
    print(f"  ratio service ÷ raw (rate)        {rate / raw_rate:8.4f}  (goal ≥ 0.33)")
    print(f"  topic only ÷ raw (rate)           {(on_topic / topic_s) / raw_rate:8.4f}")
    if rate > 0:
        print(f"  at this rate 100,000 would take   {100_000 / rate:8.0f} s  (goal ≤ 60 s)")
    print(f"  peak RSS of this process          {peak_rss_mb():8.0f} MB")
    cores = os.cpu_count() or 1
    if store_pid is not None and delivered:
        per = store_cpu * 1000 / delivered
        ceiling = cores * 1000 / per
        print(f"  CPU of the store (mongod)         {store_cpu:8.1f} s  ({per:.2f} ms per "
              f"invitation; {cores} cores at that alone: at most {ceiling:.0f} /s)")  # fmt: skip
    if delivered:
        print(f"  CPU of this process (services)    {own_cpu:8.1f} s  "
              f"({own_cpu * 1000 / delivered:.2f} ms per invitation)")  # fmt: skip
    names = {campaigns_env["mongo_database"]: "campaigns", notify_env["mongo_database"]: "notify"}
    total = sum(commands.seen.values())
    store_s = sum(commands.seconds.values())
    print(f"  store commands during the run     {total:8d}  ({total / count:.2f} per invitation, "
          f"{store_s:.1f} s of store time summed)")  # fmt: skip
    print("    commands  seconds  ms each  service   command        collection  filter")
    slowest = sorted(commands.seconds.items(), key=lambda kv: -kv[1])[: args.top]
    for key, seconds in slowest:
        _, database, collection, name, filt = key
        n = commands.seen[key]
        print(f"    {n:8d} {seconds:8.1f} {seconds / n * 1000:8.2f}  "
              f"{names.get(database, database):<9} {name:<14} {collection}  {filt}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per stage")
    parser.add_argument("--top", type=int, default=15, help="store command kinds to print")
    parser.add_argument(
        "--seed",
        choices=("copies", "events"),
        default="copies",
        help="fill the projections with every PersonAdded through the services (events), or "
        "with one through them and copies of its documents for the rest (copies, the default: "
        "the projections' guarded upserts scan their collection, so loading N by events takes "
        "time quadratic in N)",
    )
    asyncio.run(main(parser.parse_args()))
