"""The SMS gateway answering 503 for 30 seconds: every message is delivered after it recovers.

Notify runs in this process against the real stack, its SMS/pager channel pointed at an HTTP
gateway started here (``crm_notify.devservers.GatewaySink`` with a scripted answer). The people
arrive as contacts' ``PersonAdded`` events, each with a mobile number, mobile as the preferred
channel and consent to it; then an internal application asks notify for N ad-hoc messages to
them through the API (``POST /notifications``). Ad-hoc requests, not invitations on the
campaigns topic, so that no other notify process on the shared stack takes the same requests
and publishes outcomes under the same notification ids.

The gateway answers 503 to everything from before the first request until ``OUTAGE_S`` after
the last notification was accepted, so every message meets the outage at its first attempt and
retries through it; then it answers 202. Afterwards:
  - the gateway accepted exactly N distinct messages, each exactly once, each to its person's
    number (it was refused before, so the outage really happened to every one of them);
  - each notification is recorded delivered on mobile, and its ``NotificationDelivered`` is on
    the notify topic exactly once; no ``NotificationFailed``: the retry budget outlasted the
    outage.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.common import ChannelAddresses, ChannelConsent
from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Channel, Language
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    eventually,
    http_client,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
)
from crm_notify.app import create as create_notify
from crm_notify.devservers import GatewaySink
from crm_notify.repository import RECIPIENTS, recipient_key
from crm_notify.settings import NotifySettings

pytestmark = pytest.mark.integration

MESSAGES = int(os.environ.get("CRM_FAULTS_GATEWAY_MESSAGES", "50"))
OUTAGE_S = float(os.environ.get("CRM_FAULTS_GATEWAY_OUTAGE_S", "30"))

# Notify's retry back-off, shortened for the test. Production waits 30 s, then 60 s, 2 min,
# 4 min, 8 min between its 6 attempts (retry_base_s=30, retry_factor=2, retry_cap_s=3600):
# about 15 minutes, which outlasts a 30-second outage but would make this test wait up to a
# minute after the gateway is back for a retry to come due. Here the same policy runs on a
# compressed clock: 0.5 s doubling to a 2 s cap, and enough attempts (about two minutes of
# them) that the budget still outlasts the outage, which is what production's settings are
# chosen for too. What is shown is that the outage is retried through, not how long it takes.
RETRY = {"retry_base_s": "0.5", "retry_factor": "2", "retry_cap_s": "2", "retry_max_attempts": "60"}


class FlakyGateway:
    """Answers 503 until ``recover()`` was called and ``OUTAGE_S`` has passed since, then 202;
    counts the refusals and the acceptances per message reference."""

    def __init__(self) -> None:
        self.recover_at: float | None = None
        self.refused: Counter[str] = Counter()
        self.accepted: list[dict[str, Any]] = []

    def recover(self, after_s: float) -> None:
        self.recover_at = time.monotonic() + after_s

    def respond(self, record: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        reference = str((record["body"] or {}).get("reference"))
        if self.recover_at is None or time.monotonic() < self.recover_at:
            self.refused[reference] += 1
            return 503, {"error": "service unavailable"}
        self.accepted.append(record)
        return 202, {"status": "accepted"}


def _people(run: str, count: int) -> list[PersonAdded]:
    at = datetime.now(UTC) - timedelta(minutes=1)
    return [
        PersonAdded(
            client_id=str(uuid.uuid4()),
            person_id=str(uuid.uuid4()),
            name=f"Subscriber {n}",
            language=Language.EN,
            channels=ChannelAddresses(mobile=f"+7900{run}{n:05d}"),
            preferred_channel=Channel.MOBILE,
            version=1,
            consents=(ChannelConsent(channel=Channel.MOBILE, granted=True, at=at, source="test"),),
            added_at=at,
        )
        for n in range(count)
    ]


async def test_gateway_answering_503_for_30_seconds_every_message_delivered_once_after(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    run = f"{uuid.uuid4().int % 10**5:05d}"
    people = _people(run, MESSAGES)
    gateway = FlakyGateway()
    sink = GatewaySink(respond=gateway.respond)
    await sink.start()
    settings = NotifySettings(
        **service_env(
            stack,
            jwt_keys,
            "notify",
            gateway_url=f"{sink.url}/sms",
            gateway_timeout_s="2",
            smtp_port="9",  # nothing listens there; no e-mail is expected
            worker_poll_s="0.1",
            **RETRY,
        )
    )
    notify = create_notify(settings)
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        async with running(notify), http_client(notify, conformance=True) as http:
            db = notify.state.runtime.db
            sent = []
            for person in people:
                envelope = Envelope.wrap(person, producer="fault-test")
                sent.append(
                    await producer.send(
                        person.topic, envelope.to_bytes(), key=envelope.key.encode()
                    )
                )
            for future in sent:
                await future
            keys = [recipient_key("person", p.person_id) for p in people]

            async def everyone_known() -> bool:
                found = await db[RECIPIENTS].count_documents({"_id": {"$in": keys}})
                return bool(found == MESSAGES)

            await eventually(everyone_known, within=120, what="notify's recipient projection")

            since = await end_offsets(stack.kafka_bootstrap, NOTIFY)
            headers = bearer(jwt_keys, "notify:send")
            number_of: dict[str, str] = {}
            for person in people:
                response = await http.post(
                    "/notifications",
                    json={
                        "recipient": {
                            "kind": "person",
                            "id": person.person_id,
                            "client_id": person.client_id,
                        },
                        "channel": "mobile",
                        "subject": "Outage drill",
                        "body": f"A message for {person.name}",
                    },
                    headers=headers,
                )
                assert response.status_code == 201, response.text
                assert person.channels.mobile is not None
                number_of[response.json()["id"]] = person.channels.mobile
            ids = set(number_of)
            assert len(ids) == MESSAGES
            gateway.recover(after_s=OUTAGE_S)

            await eventually(
                lambda: {str(r["body"]["reference"]) for r in gateway.accepted} >= ids,
                within=OUTAGE_S + 120,
                interval=0.5,
                what="every message accepted by the gateway",
            )

            async def all_recorded_delivered() -> bool:
                done = await db["notifications"].count_documents(
                    {"_id": {"$in": sorted(ids)}, "status": "delivered", "channel": "mobile"}
                )
                return bool(done == MESSAGES)

            await eventually(all_recorded_delivered, within=60, what="every outcome recorded")

            def outcomes(records: list[Any]) -> list[Envelope]:
                found = []
                for record in records:
                    envelope = Envelope.from_bytes(record.value)
                    if envelope.payload.get("notification_id") in ids:
                        found.append(envelope)
                return found

            records = await read_topic(
                stack.kafka_bootstrap,
                NOTIFY,
                since=since,
                until_idle=2.0,
                within=120,
                stop_when=lambda rs: len(outcomes(rs)) >= MESSAGES,
            )
    finally:
        await producer.stop()
        await sink.stop()  # notify's database was dropped by running() once notify stopped

    # The outage happened to every message: each was refused, and retried while refused.
    assert set(gateway.refused) == ids, "a message was never refused: it missed the outage"
    assert min(gateway.refused.values()) >= 2, gateway.refused
    # After it: each message accepted exactly once, to its person's number.
    accepted = Counter(str(r["body"]["reference"]) for r in gateway.accepted)
    assert set(accepted) == ids
    assert {ref: n for ref, n in accepted.items() if n != 1} == {}
    assert len(gateway.accepted) == MESSAGES
    for post in gateway.accepted:
        reference = post["body"]["reference"]
        assert post["body"]["to"] == number_of[reference]
        assert post["body"]["channel"] == "mobile"
        assert post["headers"]["idempotency-key"] == reference
    # Each outcome published once: delivered on mobile, after more than one attempt.
    events = outcomes(records)
    assert Counter(e.event_type for e in events) == {"NotificationDelivered": MESSAGES}
    assert {e.payload["notification_id"] for e in events} == ids
    assert {e.payload["channel"] for e in events} == {"mobile"}
    for event in events:
        notification = event.payload["notification_id"]
        assert event.payload["attempts"] >= gateway.refused[notification] + 1, event.payload
    print(
        f"{MESSAGES} messages; refused {gateway.refused.total()} times during the outage "
        f"({min(gateway.refused.values())} to {max(gateway.refused.values())} per message); "
        f"accepted {len(gateway.accepted)}"
    )
