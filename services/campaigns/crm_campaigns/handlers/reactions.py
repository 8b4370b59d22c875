"""What campaigns does with other services' facts: delivery outcomes, contact records at an
event, clients registered from an event. Each counts a fact once, however often it arrives."""

from __future__ import annotations

from crm_contracts.campaigns import NeedsIdentified
from crm_contracts.contacts import SYSTEM_EMPLOYEE_ID, ClientRegistered, ContactRecorded
from crm_contracts.envelope import Envelope
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.values import ClientSourceKind, NeedsSource, NotificationKind
from crm_kit.problems import Conflict, NotFound
from crm_kit.runtime import Runtime

from crm_campaigns import projections
from crm_campaigns.domain.errors import UnknownParticipant
from crm_campaigns.handlers import participants
from crm_campaigns.repository import EVENT_CONTACTS
from crm_campaigns.repository.needs import Needs, new_client_first_time
from crm_campaigns.repository.participants import Counters
from crm_campaigns.repository.planning import EventRepository

_INVITATIONS = {NotificationKind.INVITATION, NotificationKind.STAFF_NOTICE}


async def _delivery(
    rt: Runtime, event: NotificationDelivered | NotificationFailed, delivered: bool
) -> None:
    if event.kind not in _INVITATIONS or event.event_id is None or event.participant_id is None:
        return
    at = event.delivered_at if isinstance(event, NotificationDelivered) else event.failed_at
    try:
        await participants.delivery_reported(
            rt, event.event_id, event.participant_id, at, delivered=delivered
        )
    except UnknownParticipant:
        return  # not one of ours (or removed since): nothing to move


async def on_notification_delivered(rt: Runtime, event: NotificationDelivered, _: Envelope) -> None:
    await _delivery(rt, event, delivered=True)


async def on_notification_failed(rt: Runtime, event: NotificationFailed, _: Envelope) -> None:
    await _delivery(rt, event, delivered=False)


async def on_client_registered(rt: Runtime, event: ClientRegistered, envelope: Envelope) -> None:
    await projections.on_client_registered(rt, event, envelope)
    source = event.source
    from_event = source.kind in (ClientSourceKind.QUESTIONNAIRE, ClientSourceKind.EVENT)
    if not from_event or source.event_id is None:
        return
    try:
        await EventRepository(rt).get(source.event_id)
    except NotFound:
        return
    if await new_client_first_time(rt, event.client_id, source.event_id):
        await Counters(rt).add(source.event_id, {"new_potential_clients": 1})


async def on_contact_recorded(rt: Runtime, event: ContactRecorded, _: Envelope) -> None:
    """A manager's report of a contact at an event: counted, its needs noted, and the person
    taken as having attended."""
    if event.event_id is None or event.employee_id == SYSTEM_EMPLOYEE_ID:
        return  # the system's record of a questionnaire answer: counted from the answer itself
    try:
        marketing_event = await EventRepository(rt).get(event.event_id)
    except NotFound:
        return
    needs = (
        [
            NeedsIdentified(
                event_id=event.event_id,
                client_id=event.client_id,
                person_id=event.person_id,
                programme_id=marketing_event.programme_id,
                source=NeedsSource.CONTACT_RECORD,
                source_id=event.contact_id,
                item_codes=event.need_item_codes,
                tags=event.need_tags,
                identified_at=event.recorded_at,
            )
        ]
        if event.need_item_codes or event.need_tags
        else []
    )
    try:
        await rt.outbox(EVENT_CONTACTS, "contact record").insert(
            {
                "_id": event.contact_id,
                "event_id": event.event_id,
                "client_id": event.client_id,
                "person_id": event.person_id,
                "at": event.occurred_at,
            },
            needs,
        )
        first = True
    except Conflict:
        first = False  # redelivered: counted before; the steps below are idempotent anyway
    if first:
        await Counters(rt).add(event.event_id, {"contact_records": 1})
    client = await projections.get_client(rt.db, event.client_id)
    await Needs(rt).record(
        source=NeedsSource.CONTACT_RECORD.value,
        source_id=event.contact_id,
        item_codes=event.need_item_codes,
        event_id=event.event_id,
        programme_id=marketing_event.programme_id,
        client_id=event.client_id,
        person_id=event.person_id,
        field_of_activity=(client or {}).get("field_of_activity"),
        at=event.occurred_at,
    )
    if event.person_id is not None:
        await participants.attendance_inferred(
            rt, event.event_id, event.person_id, "contact_record"
        )
