"""Test helpers: other services' facts published with aiokafka, and our own read back."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses, ChannelConsent, Recipient
from crm_contracts.contacts import ClientRegistered, ClientSource, ContactRecorded, PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.topics import CAMPAIGNS
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    ContactDirection,
    ContactKind,
    FailureKind,
    Language,
    NotificationKind,
    RecipientKind,
)
from crm_kit.sealing import opened_envelope
from crm_kit.settings import ServiceSettings
from crm_kit.testing import StackEndpoints, read_topic, stack_kafka_options

NOW = datetime(2031, 1, 1, tzinfo=UTC)


async def publish(stack: StackEndpoints, *events: ContractEvent, times: int = 1) -> None:
    """Each event in its own envelope, sent ``times`` times (a redelivery is the same bytes)."""
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for event in events:
            raw = Envelope.wrap(event, producer="test").to_bytes()
            for _ in range(times):
                await producer.send(event.topic, value=raw, key=event.aggregate_key().encode())
        await producer.flush()
    finally:
        await producer.stop()


def client(client_id: str, **over: Any) -> ClientRegistered:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "kind": ClientKind.ORGANISATION,
        "name": f"Client {client_id[:6]}",
        "status": ClientStatus.ACTIVE,
        "source": ClientSource(kind=ClientSourceKind.MANUAL),
        "version": 1,
        "registered_at": NOW,
    }
    fields.update(over)
    return ClientRegistered(**fields)


def person(client_id: str, person_id: str, *, consent: bool = True) -> PersonAdded:
    return PersonAdded(
        client_id=client_id,
        person_id=person_id,
        name=f"Person {person_id[:6]}",
        language=Language.EN,
        channels=ChannelAddresses(email=f"{person_id[:8]}@example.com"),
        preferred_channel=Channel.EMAIL,
        consents=(ChannelConsent(channel=Channel.EMAIL, granted=consent, at=NOW, source="api"),),
        version=1,
        added_at=NOW,
    )


def contact_recorded(
    event_id: str,
    client_id: str,
    *,
    codes: tuple[str, ...] = (),
    person_id: str | None = None,
) -> ContactRecorded:
    """A manager's talk with the client at the event's stand, naming ``codes`` as needs."""
    return ContactRecorded(
        contact_id=str(uuid.uuid4()),
        client_id=client_id,
        person_id=person_id,
        employee_id="emp-1",
        kind=ContactKind.EVENT_TALK,
        direction=ContactDirection.INBOUND,
        occurred_at=NOW,
        summary="Talked at the stand",
        need_item_codes=codes,
        event_id=event_id,
        recorded_at=NOW,
    )


def delivered(event_id: str, participant_id: str, person_id: str) -> NotificationDelivered:
    return NotificationDelivered(
        notification_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
        source_event_type="InvitationRequested",
        recipient=Recipient(kind=RecipientKind.PERSON, id=person_id),
        kind=NotificationKind.INVITATION,
        attempts=1,
        event_id=event_id,
        participant_id=participant_id,
        channel=Channel.EMAIL,
        delivered_at=NOW,
    )


def failed(event_id: str, participant_id: str, person_id: str) -> NotificationFailed:
    return NotificationFailed(
        notification_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
        source_event_type="InvitationRequested",
        recipient=Recipient(kind=RecipientKind.PERSON, id=person_id),
        kind=NotificationKind.INVITATION,
        attempts=3,
        event_id=event_id,
        participant_id=participant_id,
        failure=FailureKind.PERMANENT,
        reason="550 mailbox unavailable",
        failed_at=NOW,
    )


async def our_facts(
    stack: StackEndpoints,
    since: dict[int, int],
    key: str,
    *,
    until: Any,
    within: float = 90.0,
) -> list[Envelope]:
    """This aggregate's envelopes on the campaigns topic, read until ``until(envelopes)``, with
    their personal fields opened by the key vault as the services' consumers open them."""

    def mine(records: list[Any]) -> list[Envelope]:
        return [Envelope.from_bytes(r.value) for r in records if r.key == key.encode()]

    records = await read_topic(
        stack.kafka_bootstrap,
        CAMPAIGNS,
        since=since,
        stop_when=lambda rs: until(mine(rs)),
        until_idle=1.5,
        within=within,
    )
    settings = ServiceSettings(mongo_uri=stack.mongo_uri)
    return [await opened_envelope(e, settings) for e in mine(records)]
