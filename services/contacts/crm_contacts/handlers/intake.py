"""Questionnaires from marketing events: an unknown respondent becomes a potential client.

Consumed from ``QuestionnaireSubmitted``. The ids of what it creates derive from the response
id, so however often the event is redelivered or replayed, one client and one person (or one
contact record for a known respondent) exist.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace

from crm_contacts import domain, events
from crm_contacts.domain import matching
from crm_contacts.domain.errors import InvalidChannel
from crm_contacts.domain.records import SYSTEM_EMPLOYEE
from crm_contacts.repository import ClientRepository, RecordRepository
from crm_contracts.campaigns import QuestionnaireSubmitted
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSourceKind,
    ContactDirection,
    ContactKind,
    Language,
)
from crm_kit.clock import utc_now
from crm_kit.problems import Conflict
from crm_kit.runtime import Runtime

log = logging.getLogger(__name__)

_IDS = uuid.UUID("0b0e4d2a-6f3c-4f44-9a59-0d8f6c1e2a11")
"""Namespace of the ids derived from a questionnaire response."""


def derived_id(kind: str, response_id: str) -> str:
    return str(uuid.uuid5(_IDS, f"{kind}:{response_id}"))


def _usable_channels(event: QuestionnaireSubmitted) -> domain.Channels:
    """The respondent's addresses that validate; a mistyped one is dropped, not fatal."""
    given = event.respondent.channels
    kept: dict[str, str | None] = {}
    for channel in Channel:
        value = given.address(channel)
        if not value:
            continue
        try:
            domain.Channels.parse({channel.value: value})
        except InvalidChannel:
            log.info("questionnaire %s: dropping invalid %s", event.response_id, channel.value)
            continue
        kept[channel.value] = value
    return domain.Channels.parse(kept)


async def _known_respondent(
    clients: ClientRepository, event: QuestionnaireSubmitted, channels: domain.Channels
) -> tuple[str, str | None] | None:
    """(client id, person id) of the respondent if this base already knows them."""
    respondent = event.respondent
    if respondent.client_id:
        client = await clients.get(respondent.client_id)
        if client is not None:
            live = client.merged_into or client.client_id
            return live, respondent.person_id
    keys = matching.channel_keys(channels)
    for client in await clients.matching(keys, limit=5):
        for person in client.people:
            if set(matching.channel_keys(person.channels)) & set(keys):
                return client.client_id, person.person_id
    return None


async def questionnaire_submitted(
    runtime: Runtime, event: QuestionnaireSubmitted, cause: str
) -> str:
    """Handle one questionnaire; returns the id of the client it is about."""
    clients = ClientRepository(runtime)
    client_id = derived_id("client", event.response_id)
    # First: did an earlier delivery of this response already register the respondent?
    # (Otherwise the replay would find them "known" by their e-mail and record a contact.)
    existing = await clients.get(client_id)
    if existing is not None:
        return existing.merged_into or client_id
    channels = _usable_channels(event)
    known = await _known_respondent(clients, event, channels)
    if known is not None:
        known_client, person_id = known
        await _record_known(runtime, event, known_client, person_id, cause)
        return known_client
    await _register_respondent(clients, event, client_id, channels, cause)
    return client_id


async def _record_known(
    runtime: Runtime,
    event: QuestionnaireSubmitted,
    client_id: str,
    person_id: str | None,
    cause: str,
) -> None:
    interest = ", ".join(event.product_interest_codes) or "no products named"
    record = domain.record_contact(
        contact_id=derived_id("contact", event.response_id),
        client_id=client_id,
        employee_id=SYSTEM_EMPLOYEE,
        kind=ContactKind.OTHER,
        direction=ContactDirection.INBOUND,
        occurred_at=min(event.submitted_at, utc_now()),
        summary=f"Answered the {event.channel.value} questionnaire of event {event.event_id} "
        f"({interest})",
        now=utc_now(),
        person_id=person_id,
        need_item_codes=event.product_interest_codes,
        event_id=event.event_id,
        recorded_by="questionnaire",
        questionnaire_response_id=event.response_id,
    )
    await RecordRepository(runtime).add_once(
        record, events.contact_recorded(record), causation_id=cause
    )


async def _register_respondent(
    clients: ClientRepository,
    event: QuestionnaireSubmitted,
    client_id: str,
    channels: domain.Channels,
    cause: str,
) -> None:
    respondent = event.respondent
    person_name = respondent.name or channels.email or f"Respondent {event.response_id[:8]}"
    now = utc_now()
    client, happened = domain.register_client(
        client_id=client_id,
        kind=ClientKind.ORGANISATION if respondent.organisation else ClientKind.PERSON,
        name=respondent.organisation or person_name,
        now=now,
        source=domain.Source(
            kind=ClientSourceKind.QUESTIONNAIRE,
            event_id=event.event_id,
            questionnaire_response_id=event.response_id,
        ),
    )
    consented = tuple(c for c in respondent.consented_channels if channels.address(c))
    client, added = client.add_person(
        person_id=derived_id("person", event.response_id),
        name=person_name,
        language=respondent.language or Language.RU,
        channels=channels,
        now=now,
        position=respondent.position,
        consented=consented,
        consent_source="questionnaire",
    )
    # Registered as one document at version 1 carrying both facts.
    client = replace(client, version=1)
    try:
        await clients.add(
            client, events.client_events(client, [*happened, *added], now=now), causation_id=cause
        )
    except Conflict:
        log.info("questionnaire %s: client %s already registered", event.response_id, client_id)
