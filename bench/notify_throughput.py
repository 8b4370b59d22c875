"""Notify throughput: N invitations from `InvitationRequested` to the SMTP server.

    uv run python bench/notify_throughput.py [--count 10000] [--concurrency 8] [--pool 4]
                                             [--batch 48] [--poll 0.05]

Needs the local stack (`uv run crm-stack up`). Runs the notify app in process against its own
database and consumer group, with an in-process SMTP server (aiosmtpd) that only counts. It
writes N people (with e-mail consent) into notify's projection, then publishes N invitations
and prints: the time until every
message reached the SMTP server, messages per second, the peak resident memory of the process,
the largest number of notifications seen waiting during the run (pending, retry, or in the
batch being sent) — the "nothing piles up in memory" check is that memory stays flat
as N grows, since the worker holds one batch and the backlog sits in the store — and the store
commands the run sent per invitation, by command and collection.

The baseline, measured in the same run before notify starts: the same N envelopes produced with
aiokafka to a topic of this run and consumed back by a fresh consumer group, nothing else. The
ratio notify / baseline is the figure to compare between runs; absolute rates depend on what
else the shared stack is doing (other runs publishing to the same topics are consumed too).

The app's consumer group is started at the topics' current end, so other runs' events are
not replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from crm_contracts.base import ContractEvent
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import Place, Recipient
from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.values import Channel, ParticipantRole, RecipientKind
from crm_kit.testing import CountingSmtp, running, smtp_server, stack_kafka_options
from crm_notify.app import create
from crm_notify.settings import NotifySettings
from guests import guest
from pymongo import AsyncMongoClient, monitoring
from raw_kafka import raw_kafka
from store_commands import Commands


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def events(run: str, n: int) -> tuple[PersonAdded, InvitationRequested]:
    person = guest(n, f"guest{n}@{run}.bench.example", str(uuid.uuid4()))
    starts = datetime(2027, 3, 1, 7, 0, tzinfo=UTC)
    invitation = InvitationRequested(
        event_id=f"bench-{run}",
        participant_id=str(uuid.uuid4()),
        recipient=Recipient(
            kind=RecipientKind.PERSON, id=person.person_id, client_id=person.client_id
        ),
        role=ParticipantRole.GUEST,
        event_title="Bench fair",
        event_kind="exhibition",
        place=Place(venue="Hall 1"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
        timezone="Europe/Moscow",
        answer_token=f"tok-{n}",
        requested_at=datetime.now(UTC),
    )
    return person, invitation


def projected(person: PersonAdded) -> dict[str, Any]:
    """The ``recipients`` document notify keeps for ``person`` (``handlers.on_person``)."""
    return {
        "_id": f"person:{person.person_id}",
        "kind": "person",
        "client_id": person.client_id,
        "name": person.name,
        "language": person.language.value,
        "channels": {c.value: person.channels.address(c) for c in Channel},
        "preferred": person.preferred_channel.value if person.preferred_channel else None,
        "active": True,
        "version": person.version,
        "consents": {c.channel.value: {"granted": c.granted, "at": c.at} for c in person.consents},
    }


async def publish(producer: AIOKafkaProducer, event: ContractEvent) -> Any:
    envelope = Envelope.wrap(event, producer="bench")
    return await producer.send(event.topic, envelope.to_bytes(), key=event.aggregate_key().encode())


async def main(args: argparse.Namespace) -> None:
    bootstrap = os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    run = uuid.uuid4().hex[:8]
    smtp = CountingSmtp(f"@{run}.bench.example")
    servers = contextlib.ExitStack()
    port = servers.enter_context(smtp_server(smtp))
    settings = NotifySettings(
        environment="test",
        mongo_uri=mongo_uri,
        kafka_bootstrap=bootstrap,
        mongo_database=f"bench_notify_{run}",
        consumer_group=f"bench-notify-{run}",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_pool_size=args.pool,
        gateway_url=None,
        worker_concurrency=args.concurrency,
        worker_batch_size=args.batch,
        worker_poll_s=args.poll,
        rate_limits={Channel.EMAIL: 1_000_000.0},
        log_level="WARNING",
        consumer_start_at_end=True,
    )
    pairs = [events(run, n) for n in range(args.count)]
    payloads = [Envelope.wrap(inv, producer="bench").to_bytes() for _, inv in pairs]
    raw = (await raw_kafka(bootstrap, payloads, name="notify")).consumed
    print(f"baseline: {args.count} produced and consumed in {raw:.1f} s", flush=True)
    store = Commands(settings.mongo_database)
    monitoring.register(store)
    app = create(settings)
    producer = AIOKafkaProducer(**stack_kafka_options(bootstrap), acks="all", linger_ms=5)
    await producer.start()
    waiting_peak = 0
    try:
        async with running(app):
            db = app.state.runtime.db
            # People are known long before they are invited: the projection is loaded first,
            # straight into the store (as notify's handlers would write it), so the run times
            # only the path from InvitationRequested to the SMTP server.
            await db["recipients"].insert_many([projected(person) for person, _ in pairs])
            rss_before = peak_rss_mb()
            store.phase = "run"
            started = time.monotonic()
            await asyncio.gather(*[await publish(producer, inv) for _, inv in pairs])
            published = time.monotonic() - started
            print(f"published {args.count} invitations in {published:.1f} s", flush=True)
            last_report = 0.0
            while smtp.count < args.count:
                await asyncio.sleep(0.5)
                # The waiting ones, counted from the due index (status first).
                waiting = await db["notifications"].count_documents(
                    {"status": {"$in": ["pending", "retry", "sending"]}}
                )
                waiting_peak = max(waiting_peak, waiting)
                elapsed = time.monotonic() - started
                if elapsed - last_report >= 10:
                    last_report = elapsed
                    print(f"  {elapsed:6.1f} s: {smtp.count} sent, {waiting} waiting", flush=True)
                if elapsed > args.timeout:
                    sys.exit(f"bench: only {smtp.count} of {args.count} within {args.timeout} s")
            took = time.monotonic() - started
            store.phase = ""
            writes, reads = store.writes_and_reads()
            kinds = Counter({kind: n for kind, (n, _) in store.by_command().items()})
    finally:
        await producer.stop()
        servers.close()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
        await client.drop_database(settings.mongo_database)
        await client.close()
    rate, raw_rate = args.count / took, args.count / raw
    print(f"invitations        {args.count}")
    print(f"end to end         {took:.1f} s  ({rate:.1f} messages/s)")
    print(f"raw aiokafka       {raw:.1f} s  ({raw_rate:.0f} messages/s produced and consumed)")
    print(f"ratio              {rate / raw_rate:.4f} of raw produce+consume")
    print(
        f"store commands     {writes / args.count:.2f} writes and {reads / args.count:.2f} reads "
        "per invitation (this run's database, while sending)"
    )
    for (command, collection), n in kinds.most_common(12):
        print(f"  {n:8d}  {command:14s} {collection}")
    print(f"waiting (peak)     {waiting_peak} notifications in the store")
    print(f"peak RSS           {peak_rss_mb():.0f} MB (before the run {rss_before:.0f} MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--poll", type=float, default=0.05, help="worker pause when idle, s")
    parser.add_argument("--timeout", type=float, default=3600)
    asyncio.run(main(parser.parse_args()))
