"""The notify process killed with SIGKILL in the middle of a batch, then restarted.

Notify runs as its own process, sending to an SMTP server in this test that counts what each
address receives. People and then invitations arrive on the topics as campaigns and contacts
would publish them. Once a third of the messages have reached the SMTP server, notify is killed
with SIGKILL, and started again on the same database and consumer group. Afterwards:
  - every invitation reached the SMTP server (none lost);
  - each notification's outcome is recorded once: one `NotificationDelivered` per notification
    (the relay's last batch may be published again, as the same events);
  - the only messages sent twice are ones that were in the killed process's hands (sent, their
    outcome not yet written), so at most one claimed batch; SMTP gives the sender no way to take
    back or deduplicate a message the server accepted, so delivery to the channel across a crash
    is at-least-once (docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import Place, Recipient
from crm_contracts.envelope import Envelope
from crm_contracts.topics import NOTIFY
from crm_contracts.values import ParticipantRole, RecipientKind
from crm_kit.relay import BATCH_SIZE
from crm_kit.testing import StackEndpoints, end_offsets, eventually, read_topic, stack_kafka_options
from crm_notify.domain import Status
from crm_notify.repository import recipient_key
from crm_notify.repository.notifications import LOG_KEYS, audience_key, status_key
from pymongo import AsyncMongoClient

INVITATIONS = int(os.environ.get("CRM_RECOVERY_INVITATIONS", "150"))
"""Invitations in the run (150 in the suite; docs/reliability.md for higher counts)."""
KILL_AT = INVITATIONS // 3
BATCH = 16


def _wait(floor_s: float) -> float:
    """A wait's upper bound: ``floor_s`` at the suite's count, growing with a larger one."""
    return max(floor_s, INVITATIONS * 0.1)


def _invitation(run: str, person_id: str, client_id: str, n: int) -> InvitationRequested:
    starts = datetime(2031, 3, 1, 7, 0, tzinfo=UTC)
    return InvitationRequested(
        event_id=f"recovery-{run}",
        participant_id=str(uuid.uuid4()),
        recipient=Recipient(kind=RecipientKind.PERSON, id=person_id, client_id=client_id),
        role=ParticipantRole.GUEST,
        event_title="Recovery fair",
        event_kind="exhibition",
        place=Place(venue="Hall 1"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
        timezone="Europe/Moscow",
        answer_token=f"tok-{run}-{n}",
        requested_at=datetime.now(UTC),
    )


@pytest.mark.parametrize("smtp", ["aiosmtpd", "lean"], indirect=True, ids=["data", "bdat"])
async def test_notify_killed_mid_batch_delivers_every_invitation(
    stack: StackEndpoints,
    smtp: tuple[Any, int],
    fan_out: Any,
    service_process: Callable[..., Any],
) -> None:
    counter, smtp_port = smtp
    run = uuid.uuid4().hex[:8]
    notify = service_process(
        "notify",
        smtp_host="127.0.0.1",
        smtp_port=str(smtp_port),
        gateway_url="",
        worker_batch_size=str(BATCH),
        worker_concurrency="4",
        worker_poll_s="0.1",
        lease_s="3",
        retry_base_s="0.5",
        retry_cap_s="2",
        rate_limits='{"email": 1000}',
    )
    database = notify.env["CRM_NOTIFY_MONGO_DATABASE"]
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        notify.start()
        client_id = str(uuid.uuid4())
        people = fan_out.people(counter.domain, client_id, INVITATIONS)
        await fan_out.publish(producer, people)
        db = mongo[database]

        keys = [recipient_key(RecipientKind.PERSON, p.person_id) for p in people]

        async def everyone_known() -> bool:
            return bool(await fan_out.known(db["recipients"], keys) == INVITATIONS)

        await eventually(everyone_known, within=_wait(120), what="notify's recipient projection")
        since = await end_offsets(stack.kafka_bootstrap, NOTIFY)
        invitations = [_invitation(run, p.person_id, client_id, n) for n, p in enumerate(people)]
        await fan_out.publish(producer, invitations)

        deadline = time.monotonic() + _wait(180)
        while counter.snapshot().total() < KILL_AT:
            assert time.monotonic() < deadline, f"only {counter.snapshot().total()} sent"
            await asyncio.sleep(0.02)  # a tight wait: the kill should land mid-batch
        notify.kill()
        sent_at_kill = counter.snapshot().total()
        assert sent_at_kill < INVITATIONS, "notify finished before it was killed"

        notify.start()
        await eventually(
            lambda: len(counter.snapshot()) == INVITATIONS,
            within=_wait(180),
            what="an invitation at every address",
        )

        async def all_settled() -> bool:
            keys = [audience_key(f"recovery-{run}"), status_key(Status.DELIVERED)]
            ours = {LOG_KEYS: {"$all": keys}}
            return bool(await db["notifications"].count_documents(ours) == INVITATIONS)

        await eventually(
            all_settled, within=_wait(60), what="every notification recorded delivered"
        )
        wanted = {i.participant_id for i in invitations}

        def delivered(records: list[Any]) -> list[tuple[str, str]]:
            """(notification id, event id) of each NotificationDelivered of the run."""
            found = []
            for record in records:
                envelope = Envelope.from_bytes(record.value)
                if (
                    envelope.event_type == "NotificationDelivered"
                    and envelope.payload.get("participant_id") in wanted
                ):
                    found.append((envelope.payload["notification_id"], str(envelope.event_id)))
            return found

        records = await read_topic(
            stack.kafka_bootstrap,
            NOTIFY,
            since=since,
            until_idle=2.0,
            within=_wait(120),
            stop_when=lambda rs: len({n for n, _ in delivered(rs)}) >= INVITATIONS,
        )
    finally:
        await producer.stop()
        notify.stop()
        await mongo.drop_database(database)
        await mongo.close()

    received = counter.snapshot()
    assert len(received) == INVITATIONS
    twice = {address: n for address, n in received.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice
    assert len(twice) <= BATCH, f"{len(twice)} sent twice, more than one batch: {twice}"
    outcomes = delivered(records)
    # Each notification's outcome was recorded once: one event for each. The relay publishes
    # at least once, so the killed process's last batch may be on the topic twice, as the
    # same events (the same ids, which consumers skip).
    events_of: dict[str, set[str]] = {}
    for notification_id, event_id in outcomes:
        events_of.setdefault(notification_id, set()).add(event_id)
    assert len(events_of) == INVITATIONS, "an outcome was not published"
    assert all(len(ids) == 1 for ids in events_of.values()), "an outcome recorded twice"
    republished = len(outcomes) - INVITATIONS
    assert republished <= BATCH_SIZE, f"{republished} published again: more than one batch"
    print(f"sent before the kill: {sent_at_kill}; sent twice: {len(twice)}; "
          f"outcomes published again: {republished}")  # fmt: skip
