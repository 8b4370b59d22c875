"""The projection of people and employees from contacts' facts: who notify can reach, how,
in which language, and with whose consent. State is replaced only by a newer version, consent
per channel only by a later change, so redelivery and replay change nothing."""

from __future__ import annotations

from crm_contracts.common import ChannelAddresses
from crm_contracts.contacts import (
    ClientExpired,
    ConsentChanged,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.envelope import Envelope
from crm_contracts.values import Channel, RecipientKind
from crm_kit.runtime import Runtime

from crm_notify.repository import recipient_key, recipients


def _channels(channels: ChannelAddresses) -> dict[str, str | None]:
    return {c.value: channels.address(c) for c in Channel}


async def on_person(rt: Runtime, event: PersonAdded | PersonUpdated, _: Envelope) -> None:
    key = recipient_key(RecipientKind.PERSON, event.person_id)
    state = {
        "kind": RecipientKind.PERSON.value,
        "client_id": event.client_id,
        "name": event.name,
        "language": event.language.value,
        "channels": _channels(event.channels),
        "preferred": event.preferred_channel.value if event.preferred_channel else None,
        "active": True,
    }
    await recipients.upsert_recipient_state(rt.db, key, state, event.version)
    if isinstance(event, PersonAdded):
        await recipients.set_consents(
            rt.db, key, {c.channel: (c.granted, c.at) for c in event.consents}
        )


async def on_consent(rt: Runtime, event: ConsentChanged, _: Envelope) -> None:
    key = recipient_key(RecipientKind.PERSON, event.person_id)
    await recipients.set_consent(rt.db, key, event.channel, event.granted, event.at)


async def on_employee(
    rt: Runtime, event: EmployeeRegistered | EmployeeUpdated, _: Envelope
) -> None:
    key = recipient_key(RecipientKind.EMPLOYEE, event.employee_id)
    state = {
        "kind": RecipientKind.EMPLOYEE.value,
        "client_id": None,
        "name": event.name,
        "language": event.language.value,
        "channels": _channels(event.channels),
        "preferred": event.preferred_channel.value if event.preferred_channel else None,
        "active": event.active,
    }
    await recipients.upsert_recipient_state(rt.db, key, state, event.version)


async def on_client_expired(rt: Runtime, event: ClientExpired, _: Envelope) -> None:
    """A prospect contacts deleted at the end of its retention: its people are forgotten."""
    await recipients.forget_people(rt.db, event.person_ids)
