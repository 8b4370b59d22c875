"""The notify service on the real stack, with a real SMTP server and a real HTTP gateway."""

from __future__ import annotations

import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller
from crm_contracts.base import ContractEvent
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import ChannelAddresses, ChannelConsent, Place, Recipient
from crm_contracts.contacts import CuratorAssigned, EmployeeRegistered, PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Channel, Department, Language, ParticipantRole, RecipientKind
from crm_kit.query_plans import collection_scans, profile_every_operation
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    eventually,
    free_port,
    http_client,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
)
from crm_notify.app import create
from crm_notify.devservers import GatewaySink
from crm_notify.settings import NotifySettings

GATEWAY_TOKEN = "test-gateway-token"


@dataclass
class ScriptedSmtp:
    """An aiosmtpd handler: scripted RCPT replies per address, and every accepted message."""

    scripts: dict[str, list[str]] = field(default_factory=dict)
    held: set[str] = field(default_factory=set)
    rcpt_attempts: dict[str, int] = field(default_factory=dict)
    accepted: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        with self.lock:
            self.rcpt_attempts[address] = self.rcpt_attempts.get(address, 0) + 1
            if address in self.held:
                return "451 4.7.1 greylisted, try again later"
            script = self.scripts.get(address)
            if script:
                return script.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.accepted.append((rcpt, bytes(envelope.original_content)))
        return "250 Message accepted for delivery"

    def messages_to(self, address: str) -> list[EmailMessage]:
        with self.lock:
            raws = [raw for rcpt, raw in self.accepted if rcpt == address]
        found: list[EmailMessage] = []
        for raw in raws:
            msg = message_from_bytes(raw, policy=policy.default)
            assert isinstance(msg, EmailMessage)
            found.append(msg)
        return found


@dataclass
class Harness:
    client: httpx.AsyncClient
    app: Any
    smtp: ScriptedSmtp
    gateway: GatewaySink
    producer: AIOKafkaProducer
    keys: JwtKeys
    stack: StackEndpoints

    @property
    def db(self) -> Any:
        return self.app.state.runtime.db

    async def publish(self, event: ContractEvent, envelope: Envelope | None = None) -> Envelope:
        envelope = envelope or Envelope.wrap(event, producer="test")
        await self.producer.send_and_wait(
            event.topic, envelope.to_bytes(), key=event.aggregate_key().encode()
        )
        return envelope

    def gateway_posts_to(self, number: str) -> list[dict[str, Any]]:
        return [r for r in self.gateway.records if (r["body"] or {}).get("to") == number]


@pytest.fixture(scope="module")  # stopped with its module: later tests share the topics
def smtp_server() -> Iterator[tuple[ScriptedSmtp, int]]:
    handler = ScriptedSmtp()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


@pytest.fixture(scope="module")  # stopped with its module: later tests share the topics
async def notify(
    stack: StackEndpoints, jwt_keys: JwtKeys, smtp_server: tuple[ScriptedSmtp, int]
) -> AsyncIterator[Harness]:
    smtp, smtp_port = smtp_server
    gateway = GatewaySink()
    await gateway.start()
    settings = NotifySettings(
        **service_env(
            stack,
            jwt_keys,
            "notify",
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            gateway_url=f"{gateway.url}/sms",
            gateway_token=GATEWAY_TOKEN,
            fax_email_pattern="{number}@fax.test",
            retry_base_s=0.3,
            retry_cap_s=1.0,
            retry_max_attempts=10,
            worker_poll_s=0.1,
            gateway_timeout_s=2.0,
            answer_base_url="https://crm.example",
            public_base_url="https://mail.crm.example",
            # Only this run's events: not every earlier run's on the long-lived stack.
            consumer_start_at_end=True,
        )
    )
    app = create(settings)
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        # running() drops the test database once the app (and its worker) stopped.
        async with running(app), http_client(app, conformance=True) as client:
            db = app.state.runtime.db
            await profile_every_operation(db)
            yield Harness(client, app, smtp, gateway, producer, jwt_keys, stack)
            # Every query the module's tests made the service run was served by an index.
            assert await collection_scans(db) == []
    finally:
        await producer.stop()
        await gateway.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def person_added(
    *,
    language: Language = Language.EN,
    email: str | None = None,
    mobile: str | None = None,
    preferred: Channel | None = Channel.EMAIL,
    consents: dict[Channel, bool] | None = None,
    name: str = "Anna Petrova",
) -> PersonAdded:
    at = datetime.now(UTC) - timedelta(minutes=5)
    return PersonAdded(
        client_id=str(uuid.uuid4()),
        person_id=str(uuid.uuid4()),
        name=name,
        language=language,
        channels=ChannelAddresses(email=email, mobile=mobile),
        preferred_channel=preferred,
        version=1,
        consents=tuple(
            ChannelConsent(channel=c, granted=g, at=at, source="api")
            for c, g in (consents or {}).items()
        ),
        added_at=at,
    )


def invitation_for(person: PersonAdded, *, title: str | None = None) -> InvitationRequested:
    token = unique("tok")
    starts = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    return InvitationRequested(
        event_id=str(uuid.uuid4()),
        participant_id=str(uuid.uuid4()),
        recipient=Recipient(
            kind=RecipientKind.PERSON, id=person.person_id, client_id=person.client_id
        ),
        role=ParticipantRole.GUEST,
        event_title=title or unique("Machine tools fair"),
        event_kind="exhibition",
        event_topic="Lathes",
        place=Place(venue="Expocentre", address="Krasnopresnenskaya nab. 14, Moscow"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=8),
        timezone="Europe/Moscow",
        answer_token=token,
        answer_url=f"https://crm.example/i/{token}",
        check_in_code="K-4711",
        requested_at=datetime.now(UTC),
    )


async def final_notification(h: Harness, source: Envelope | str, within: float = 60.0) -> Any:
    """The one notification of a source event once it is delivered or failed."""
    source_id = source if isinstance(source, str) else str(source.event_id)

    async def check() -> Any:
        response = await h.client.get(
            "/notifications",
            params={"source": source_id},
            headers=bearer(h.keys, "notify:read"),
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        return items if items and items[0]["status"] in ("delivered", "failed") else None

    items = await eventually(check, within=within, what="the notification's outcome")
    assert len(items) == 1
    return items[0]


async def curator_told(h: Harness, address: str, name: str) -> Envelope:
    """A new sales employee reached at ``address`` is made a client's curator: the source event
    of the staff message notify sends them (``CuratorAssigned``)."""
    employee = EmployeeRegistered(
        employee_id=str(uuid.uuid4()),
        name=name,
        department=Department.SALES,
        role="manager",
        language=Language.EN,
        channels=ChannelAddresses(email=address),
        active=True,
        version=1,
        registered_at=datetime.now(UTC),
    )
    await h.publish(employee)
    return await h.publish(
        CuratorAssigned(
            client_id=str(uuid.uuid4()),
            client_name="Acme Tools",
            curator_id=employee.employee_id,
            assigned_at=datetime.now(UTC),
        )
    )


async def delivered_by_email(
    h: Harness, source: Envelope, address: str
) -> tuple[Any, EmailMessage]:
    """The notification of ``source`` once delivered, and the one e-mail it sent to ``address``."""
    notification = await final_notification(h, source)
    assert notification["status"] == "delivered", notification
    [mail] = h.smtp.messages_to(address)
    return notification, mail


async def outcome_events(h: Harness, since: dict[int, int], notification: Any) -> list[Any]:
    """This instance's outcome events of ``notification``. Other notify processes on the shared
    stack (an end-to-end run) consume the same request events and publish outcomes for the same
    notification id, so an event counts as ours when its time is the one our store recorded."""
    key = notification["id"].encode()
    recorded = datetime.fromisoformat(notification["delivered_at"] or notification["failed_at"])

    def ours(record: Any) -> Envelope | None:
        if record.key != key:
            return None
        envelope = Envelope.from_bytes(record.value)
        at = envelope.payload.get("delivered_at") or envelope.payload.get("failed_at")
        return envelope if at is not None and datetime.fromisoformat(at) == recorded else None

    records = await read_topic(
        h.stack.kafka_bootstrap,
        NOTIFY,
        since=since,
        stop_when=lambda rs: any(ours(r) for r in rs),
        until_idle=1.0,
    )
    return [e for e in map(ours, records) if e is not None]
