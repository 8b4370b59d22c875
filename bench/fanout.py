"""Invitation fan-out, the headline: one event with N participants, from the call to the mailbox.

    eval "$(uv run crm-stack env)" && uv run python bench/fanout.py [--count 10000]

Campaigns and notify run as processes of their own (their `crm-campaigns` / `crm-notify`
scripts, `crm_kit.testing.ServiceProcess`), each with its own database and consumer group
(`crm_kit.testing.service_env`); `--notify-processes 2` runs two notify processes in one
consumer group. An SMTP server in this process (offering PIPELINING as production mail servers
do, unless `--smtp-without-pipelining`) accepts and counts the messages: by default a lean one
that does nothing else (`crm_kit.smtp_sink`; the bench's own CPU is on the same two cores as the
services it measures), or aiosmtpd with `--smtp-server aiosmtpd`.
The people arrive as contacts' `PersonAdded` events (after
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
a fresh group. Prints invitations per second and the ratio service ÷ raw; the CPU time each
process used during the run, read from /proc (each service process, the broker, mongod: per
invitation, the figure that load on a shared machine changes least), up to the last message at
the SMTP server and, after an arrow, up to every outcome recorded in campaigns (the whole
work of an invitation: notify's last outcomes and campaigns' delivered marks come after its
message); their memory before and after, and the store's command counters. `--profile DIR`
samples each service process with py-spy during the run (`DIR/<service>.txt`, collapsed
stacks; `bench/profile_table.py` sums them by part).

Notify's e-mail rate limit is lifted for the run (the default, 50 per second per process, would
be the limit by itself; docs/decisions/0040). Figures only; never part of pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from crm_campaigns.repository import EFFECTIVENESS
from crm_kit.smtp_sink import sink_server
from crm_kit.testing import CountingSmtp, OffersPipelining, stack_kafka_options
from guests import guest
from proc import cpu_seconds, rss_mb
from pymongo import AsyncMongoClient
from raw_kafka import raw_kafka

TYPICAL_RECORD = 1000
"""Bytes of one InvitationRequested envelope with its signed link (printed from the run too)."""


class _PipeliningCountingSmtp(OffersPipelining, CountingSmtp):
    """The bench's SMTP server, offering PIPELINING."""


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


def _stack_pids() -> tuple[int | None, int | None]:
    """The broker and the mongod of the crm-stack this bench runs against (their pid files)."""
    from crm_stack.stack import broker_pid, store_pid

    return broker_pid(), store_pid()


RAW = ("--format", "raw", "--nonblocking", "--output")
"""py-spy's collapsed stacks, read without pausing the process."""


class Profiler:
    """py-spy sampling each service process during the run (collapsed stacks, one file each)."""

    def __init__(self, folder: Path | None, rate: int) -> None:
        self.folder, self.rate = folder, rate
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, pids: dict[str, int]) -> None:
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        for name, pid in pids.items():
            out = self.folder / f"{name}.txt"
            self.procs.append(
                subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--rate", str(self.rate), *RAW, str(out)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGINT)
        for proc in self.procs:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []


async def every_outcome_recorded(
    cdb: Any, event_id: str, count: int, t0: float, timeout_s: float
) -> float | None:
    """Seconds from ``t0`` until campaigns has recorded an outcome (delivered or failed) of
    every invitation of the event, by its effectiveness counters; None past ``timeout_s``. The
    work an invitation causes goes on after its message reaches the SMTP server: notify's last
    outcomes, their events, campaigns' delivered marks."""
    while time.monotonic() - t0 <= timeout_s:
        counters = await cdb[EFFECTIVENESS].find_one({"_id": event_id}) or {}
        if int(counters.get("delivered", 0)) + int(counters.get("failed", 0)) >= count:
            return time.monotonic() - t0
        await asyncio.sleep(0.1)
    return None


async def store_counters(client: AsyncMongoClient[dict[str, Any]]) -> Counter[str]:
    """mongod's operation counters (the whole server: nothing else uses a bench's stack)."""
    status = await client.admin.command("serverStatus")
    counters: Counter[str] = Counter()
    for name, value in status["opcounters"].items():
        counters[name] = int(value)
    for name in ("commitTransaction", "getMore", "aggregate", "find", "insert", "update"):
        entry = status["metrics"]["commands"].get(name) or {}
        counters[f"cmd.{name}"] = int(entry.get("total", 0))
    return counters


async def store_logging(client: AsyncMongoClient[dict[str, Any]]) -> str:
    """The store's slow-operation threshold, with a warning when it is below the default: a
    server told to log every operation (``slowms`` is the whole server's, set by the profile
    command of any database) spends a tenth of its CPU in the fan-out writing its log."""
    slowms = int((await client.admin.command("profile", -1))["slowms"])
    said = f"store's slow-operation log threshold {slowms} ms"
    if slowms < 100:
        said += (
            " -- BELOW THE DEFAULT (100): the store logs most operations and its CPU is not"
            " comparable; reset it with the profile command (profile 0, slowms 100)"
        )
    return said


async def main(args: argparse.Namespace) -> None:
    from crm_contracts.contacts import ClientRegistered, ClientSource
    from crm_contracts.topics import CAMPAIGNS
    from crm_contracts.values import ClientKind, ClientSourceKind, ClientStatus
    from crm_kit.testing import (
        ServiceProcess,
        StackEndpoints,
        bearer,
        end_offsets,
        forget_groups,
        new_jwt_keys,
        service_env,
        smtp_server,
    )

    count = args.count
    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    run = uuid.uuid4().hex[:8]
    tag = f"fanout-{run}"
    # Offering PIPELINING as the mail servers notify meets in production (Postfix, Exim,
    # Exchange) do, unless asked not to.
    pipelining = not args.smtp_without_pipelining
    if args.smtp_server == "aiosmtpd" and pipelining:
        smtp = _PipeliningCountingSmtp(f"@{run}.fanout.bench", expected=count)
    else:
        smtp = CountingSmtp(f"@{run}.fanout.bench", expected=count)

    print(f"fan-out of {count} on {stack.kafka_bootstrap} / {stack.mongo_uri}; load "
          f"{os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    raw = await raw_kafka(
        stack.kafka_bootstrap, [os.urandom(TYPICAL_RECORD)] * count, name="fanout", keys=1000
    )
    raw_produce, raw_both = raw.produced, raw.consumed
    print(f"baseline: produced in {raw_produce:.1f} s, and consumed back by {raw_both:.1f} s",
          flush=True)  # fmt: skip

    folder = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    keys = new_jwt_keys(folder)
    servers = contextlib.ExitStack()
    if args.smtp_server == "aiosmtpd":
        smtp_port = servers.enter_context(smtp_server(smtp))
    else:
        smtp_port = servers.enter_context(sink_server(smtp.count_message, pipelining=pipelining))
    campaigns_env = service_env(stack, keys, "campaigns", log_level="WARNING")
    notify_env = service_env(
        stack,
        keys,
        "notify",
        log_level="WARNING",
        smtp_host="127.0.0.1",
        smtp_port=smtp_port,
        gateway_url="",
        worker_poll_s=0.05,
        # Notify's e-mail rate limit is lifted for the run (docs/decisions/0040).
        rate_limits=json.dumps({"email": 1_000_000.0}),
        **dict(kv.split("=", 1) for kv in args.notify_setting),
    )
    campaigns = ServiceProcess("campaigns", campaigns_env, folder / "campaigns.log")
    notifies = [
        ServiceProcess("notify", notify_env, folder / f"notify-{n}.log")
        for n in range(args.notify_processes)
    ]
    services = [campaigns, *notifies]
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
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    cdb = mongo[campaigns_env["mongo_database"]]
    ndb = mongo[notify_env["mongo_database"]]
    profiler = Profiler(Path(args.profile) if args.profile else None, args.profile_rate)
    await producer.start()
    watch_task: asyncio.Task[None] | None = None
    try:
        for service in services:
            await asyncio.to_thread(service.start)
        await asyncio.sleep(3.0)  # every consumer of the group is assigned its partitions
        pids = {"campaigns": campaigns.pid}
        pids.update({f"notify-{n}": p.pid for n, p in enumerate(notifies)})
        async with httpx.AsyncClient(base_url=campaigns.url, timeout=3600) as http:
            t_load = time.monotonic()
            if args.seed == "events":
                await publish(producer, [client, *guests])
            else:
                await publish(producer, [client, guests[0]])
            loaded = count if args.seed == "events" else 1
            # A person's consents are the projections' last write of a PersonAdded (after its
            # document): the copies are made from a template that has them, or they would
            # have none and the selection by portrait would find the template alone.
            while True:
                held_c = await cdb["people_projection"].count_documents({"consented": "email"})
                held_n = await ndb["recipients"].count_documents({"consents.email": {"$exists": 1}})
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
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers
            )
            assert selected.status_code in (200, 201), selected.text
            select_s = time.monotonic() - t_select
            print(f"{selected.json().get('added')} participants selected in {select_s:.1f} s",
                  flush=True)  # fmt: skip

            since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
            watch = TopicWatch(stack.kafka_bootstrap, CAMPAIGNS, since, eid.encode())
            watch_task = asyncio.create_task(watch.run(count))
            await asyncio.sleep(1.0)  # the watching consumer is assigned and positioned

            incomplete = False
            broker_pid, store_pid = _stack_pids()
            watched = {**pids, "broker": broker_pid, "store": store_pid, "bench": os.getpid()}
            memory0 = {name: rss_mb(pid) for name, pid in pids.items()}
            ops0 = await store_counters(mongo)
            store_log = await store_logging(mongo)
            load0 = os.getloadavg()
            profiler.start(pids)
            cpu0 = {name: cpu_seconds(pid) for name, pid in watched.items()}
            t0 = time.monotonic()
            answer = await http.post(f"/events/{eid}/invitations", json={}, headers=headers)
            assert answer.status_code == 202, answer.text
            call_s = time.monotonic() - t0
            last = t0
            memory_peak = dict(memory0)
            while smtp.all_at is None:
                await asyncio.sleep(0.25)
                now = time.monotonic()
                if now - last >= 10:
                    last = now
                    for name, pid in pids.items():
                        memory_peak[name] = max(memory_peak[name], rss_mb(pid))
                    print(f"  {now - t0:6.1f} s: {watch.count} on the topic, "
                          f"{smtp.count} accepted by SMTP", flush=True)  # fmt: skip
                if now - t0 > args.timeout:
                    incomplete = True
                    break
                if watch_task.done() and watch_task.exception() is not None:
                    raise SystemExit(f"bench: topic watch failed: {watch_task.exception()!r}")
            else:
                await watch_task
            ended = time.monotonic()
            cpu = {name: cpu_seconds(pid) - cpu0[name] for name, pid in watched.items()}
            profiler.stop()
            recorded_s = (
                None
                if incomplete
                else await every_outcome_recorded(cdb, eid, count, t0, args.timeout)
            )
            cpu_recorded = {name: cpu_seconds(pid) - cpu0[name] for name, pid in watched.items()}
            load1 = os.getloadavg()
            ops = await store_counters(mongo)
            ops.subtract(ops0)
            memory1 = {name: rss_mb(pid) for name, pid in pids.items()}
            on_topic, delivered = watch.count, smtp.count
            # When the run did not finish in time, the times are up to the stop, the counts partial.
            topic_s = (watch.all_at or ended) - t0
            smtp_s = (smtp.all_at or ended) - t0
            first_s = (smtp.first_at or ended) - t0
            if not incomplete:
                await asyncio.sleep(1.0)  # a late duplicate would arrive now
            twice = sum(1 for n in smtp.snapshot().values() if n > 1)
    finally:
        profiler.stop()
        if watch_task is not None and not watch_task.done():
            watch_task.cancel()
        await producer.stop()
        for service in services:
            service.stop()
        servers.close()
        await forget_groups(
            stack.kafka_bootstrap, {campaigns_env["consumer_group"], notify_env["consumer_group"]}
        )
        for name in (campaigns_env["mongo_database"], notify_env["mongo_database"]):
            with contextlib.suppress(Exception):
                await mongo.drop_database(name)
        await mongo.close()
        if sys.exc_info()[0] is None:
            shutil.rmtree(folder)
        else:
            print(f"bench: the services' logs are kept in {folder}", flush=True)

    rate = delivered / smtp_s
    raw_rate = count / raw_both
    print()
    sizes = f"{min(watch.sizes, default=0)}-{max(watch.sizes, default=0)} B"
    print(f"invitation fan-out of {count} participants (InvitationRequested {sizes}), "
          f"{args.notify_processes} notify process(es), "
          f"SMTP server {args.smtp_server}")  # fmt: skip
    print(f"  load average (1 min)              {load0[0]:8.2f} -> {load1[0]:.2f}  "
          f"({os.cpu_count()} cores, shared)")  # fmt: skip
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
    if recorded_s is not None:
        print(f"  every outcome recorded (campaigns){recorded_s:8.1f} s  (its delivered counter)")
    elif not incomplete:
        print("  every outcome recorded (campaigns)  NOT within the timeout")
    print(f"  raw aiokafka produce, same count  {raw_produce:8.1f} s  "
          f"({count / raw_produce:8.0f} /s, {TYPICAL_RECORD} B, acks=all)")  # fmt: skip
    print(f"  raw produce + consume back        {raw_both:8.1f} s  ({raw_rate:8.0f} /s)")
    print(f"  ratio service ÷ raw (rate)        {rate / raw_rate:8.4f}")
    print(f"  topic only ÷ raw (rate)           {(on_topic / topic_s) / raw_rate:8.4f}")
    if rate > 0:
        print(f"  at this rate 100,000 would take   {100_000 / rate:8.0f} s")
    if delivered:
        print("  CPU during the run (/proc, user + system), per invitation delivered; then up to")
        print("  every outcome recorded (notify's last outcomes, campaigns' delivered marks):")
        for figures in (cpu, cpu_recorded):
            figures["services"] = sum(figures[name] for name in pids)
            figures["all four"] = figures["services"] + figures["broker"] + figures["store"]
        for name in (*pids, "broker", "store", "services", "all four", "bench"):
            note = "  (SMTP server, topic watch: not counted)" if name == "bench" else ""
            ms = cpu[name] * 1000 / delivered
            whole = cpu_recorded[name] * 1000 / delivered
            print(f"    {name:<12} {cpu[name]:8.1f} s  {ms:6.3f} ms  -> {whole:6.3f} ms{note}")
    print("  resident memory (MB): before the run -> peak sampled -> after")
    for name in pids:
        print(f"    {name:<12} {memory0[name]:6.0f} -> {memory_peak[name]:6.0f} -> "
              f"{memory1[name]:6.0f}")  # fmt: skip
    per = {k: v / max(1, delivered) for k, v in sorted(ops.items()) if v}
    print("  store operations during the run (per invitation): "
          + ", ".join(f"{k} {v:.2f}" for k, v in per.items()))  # fmt: skip
    print(f"  {store_log}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per stage")
    parser.add_argument("--notify-processes", type=int, default=1)
    parser.add_argument(
        "--smtp-without-pipelining",
        action="store_true",
        help="the bench's SMTP server does not offer PIPELINING (it does by default)",
    )
    parser.add_argument(
        "--smtp-server",
        choices=("sink", "aiosmtpd"),
        default="sink",
        help="the bench's SMTP server: the lean one that only takes and counts messages "
        "(crm_kit.smtp_sink, the default: ~0.07 ms of the shared cores a message), or aiosmtpd "
        "(~0.5 ms a message: the server of every fan-out figure in docs/performance.md before "
        'its section "The bench\'s SMTP server, and BDAT")',
    )
    parser.add_argument(
        "--notify-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a notify setting for the run (e.g. worker_batch_size=96); repeatable",
    )
    parser.add_argument("--profile", metavar="DIR", help="py-spy each service into DIR")
    parser.add_argument("--profile-rate", type=int, default=100, help="py-spy samples per second")
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
