"""Notify throughput: N invitations from `InvitationRequested` to the SMTP server.

    uv run python bench/notify_throughput.py [--count 10000] [--concurrency 8] [--pool 4]

Needs the local stack (`uv run crm-stack up`). Runs the notify app in process against its own
database and consumer group, with an in-process SMTP server (aiosmtpd) that only counts. It
publishes N people (with e-mail consent), waits until notify's projection holds them, then
publishes N invitations and prints: the time until every
message reached the SMTP server, messages per second, the peak resident memory of the process,
and the largest number of notifications seen waiting (pending or retry) during the run — the
"nothing piles up in memory" check is that memory stays flat as N grows, since the worker holds
one notification per loop and the backlog sits in the store.

The app's consumer group is started at the topics' current end, so other runs' events are
not replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import socket
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from crm_contracts.base import ContractEvent
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import ChannelAddresses, ChannelConsent, Place, Recipient
from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.values import Channel, Language, ParticipantRole, RecipientKind
from crm_kit.testing import running
from crm_notify.app import create
from crm_notify.settings import NotifySettings
from pymongo import AsyncMongoClient


class CountingSmtp:
    def __init__(self, run: str) -> None:
        self.run = run
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if any(self.run in r for r in envelope.rcpt_tos):
            with self.lock:
                self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def events(run: str, n: int) -> tuple[PersonAdded, InvitationRequested]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    person = PersonAdded(
        client_id=str(uuid.uuid4()),
        person_id=str(uuid.uuid4()),
        name=f"Guest {n}",
        language=Language.EN,
        channels=ChannelAddresses(email=f"guest{n}.{run}@bench.example"),
        preferred_channel=Channel.EMAIL,
        version=1,
        consents=(ChannelConsent(channel=Channel.EMAIL, granted=True, at=at, source="bench"),),
        added_at=at,
    )
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


async def publish(producer: AIOKafkaProducer, event: ContractEvent) -> Any:
    envelope = Envelope.wrap(event, producer="bench")
    return await producer.send(event.topic, envelope.to_bytes(), key=event.aggregate_key().encode())


async def main(args: argparse.Namespace) -> None:
    bootstrap = os.environ.get("CRM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo_uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    run = uuid.uuid4().hex[:8]
    smtp = CountingSmtp(run)
    port = free_port()
    controller = Controller(smtp, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
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
        worker_poll_s=0.05,
        rate_limits={Channel.EMAIL: 1_000_000.0},
        log_level="WARNING",
        consumer_start_at_end=True,
    )
    app = create(settings)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    waiting_peak = 0
    try:
        async with running(app):
            db = app.state.runtime.db
            pairs = [events(run, n) for n in range(args.count)]
            # People are known long before they are invited: load the projection first.
            await asyncio.gather(*[await publish(producer, person) for person, _ in pairs])
            while await db["recipients"].count_documents({}) < args.count:  # noqa: ASYNC110
                await asyncio.sleep(0.5)
            rss_before = peak_rss_mb()
            started = time.monotonic()
            await asyncio.gather(*[await publish(producer, inv) for _, inv in pairs])
            published = time.monotonic() - started
            print(f"published {args.count} invitations in {published:.1f} s", flush=True)
            last_report = 0.0
            while smtp.count < args.count:
                await asyncio.sleep(0.5)
                waiting = await db["notifications"].count_documents(
                    {"status": {"$in": ["pending", "retry"]}}
                )
                waiting_peak = max(waiting_peak, waiting)
                elapsed = time.monotonic() - started
                if elapsed - last_report >= 10:
                    last_report = elapsed
                    print(f"  {elapsed:6.1f} s: {smtp.count} sent, {waiting} waiting", flush=True)
                if elapsed > args.timeout:
                    sys.exit(f"bench: only {smtp.count} of {args.count} within {args.timeout} s")
            took = time.monotonic() - started
    finally:
        await producer.stop()
        controller.stop()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri)
        await client.drop_database(settings.mongo_database)
        await client.close()
    print(f"invitations        {args.count}")
    print(f"end to end         {took:.1f} s  ({args.count / took:.0f} messages/s)")
    print(f"waiting (peak)     {waiting_peak} notifications in the store")
    print(f"peak RSS           {peak_rss_mb():.0f} MB (before the run {rss_before:.0f} MB)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--pool", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600)
    asyncio.run(main(parser.parse_args()))
