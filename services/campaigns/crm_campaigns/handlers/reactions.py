"""What campaigns does with other services' facts: delivery outcomes, contact records at an
event, clients registered from an event. Each counts a fact once, however often it arrives."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.campaigns import NeedsIdentified
from crm_contracts.contacts import SYSTEM_EMPLOYEE_ID, ClientRegistered, ContactRecorded
from crm_contracts.envelope import Envelope
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.values import ClientSourceKind, NeedsSource, NotificationKind
from crm_kit.problems import NotFound
from crm_kit.runtime import Runtime

from crm_campaigns import projections
from crm_campaigns.domain.errors import UnknownParticipant
from crm_campaigns.domain.participants import Participant
from crm_campaigns.handlers import participants
from crm_campaigns.handlers.gathering import Gatherer
from crm_campaigns.projections import CLIENTS
from crm_campaigns.repository.contacts import EventContacts, programmes_of, read_by_ids
from crm_campaigns.repository.needs import Needs, need_docs, new_client_first_time
from crm_campaigns.repository.participants import Counters, ParticipantRepository
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


Outcome = tuple[NotificationDelivered | NotificationFailed, Envelope]


async def record_deliveries(rt: Runtime, items: Sequence[Outcome]) -> None:
    """Notify's outcomes of invitations, many at once: the participants read by ``_id $in``,
    the moved ones written by version-guarded statements in one bulk command, each event's
    counters moved once. A participant changed meanwhile (its guard missed) goes
    through the one-by-one path, which reads it again and retries a lost race."""
    wanted = [
        (event, isinstance(event, NotificationDelivered))
        for event, _ in items
        if event.kind in _INVITATIONS
        and event.event_id is not None
        and event.participant_id is not None
    ]
    if not wanted:
        return
    repo = ParticipantRepository(rt)
    ids = list(dict.fromkeys(str(e.participant_id) for e, _ in wanted))
    known: dict[str, Participant] = {p.participant_id: p for p in await repo.by_ids(ids, {})}
    reached: dict[str, dict[str, int]] = {}
    for event, delivered in wanted:
        p = known.get(str(event.participant_id))
        if p is None or p.event_id != event.event_id:
            continue  # not one of ours (or removed since): nothing to move
        at = event.delivered_at if isinstance(event, NotificationDelivered) else event.failed_at
        for milestone, n in (p.delivered(at) if delivered else p.failed(at)).items():
            mine = reached.setdefault(p.participant_id, {})
            mine[milestone] = mine.get(milestone, 0) + n
    written = await repo.save_many([(known[pid], [], {}) for pid in reached])
    per_event: dict[str, dict[str, int]] = {}
    for pid, milestones in reached.items():
        if pid in written:
            totals = per_event.setdefault(known[pid].event_id, {})
            for milestone, n in milestones.items():
                totals[milestone] = totals.get(milestone, 0) + n
    for event_id, totals in per_event.items():
        await Counters(rt).add(event_id, totals)
    for event, _ in items:
        if str(event.participant_id) in reached and str(event.participant_id) not in written:
            await _delivery(rt, event, delivered=isinstance(event, NotificationDelivered))


gathered_deliveries: Gatherer[Outcome] = Gatherer(record_deliveries)
"""Delivery outcomes (keyed by notification, so each its own lane) of the lanes running at
once, recorded together."""


async def on_notification_delivered(
    rt: Runtime, event: NotificationDelivered, env: Envelope
) -> None:
    await gathered_deliveries(rt, [(event, env)])


async def on_notification_failed(rt: Runtime, event: NotificationFailed, env: Envelope) -> None:
    await gathered_deliveries(rt, [(event, env)])


async def on_notifications_reported(rt: Runtime, items: Sequence[Outcome]) -> None:
    """The consumer's batch handler for runs of delivered or failed outcomes."""
    await gathered_deliveries(rt, items)


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


async def record_contacts(rt: Runtime, items: Sequence[tuple[ContactRecorded, Envelope]]) -> None:
    """Managers' reports of contacts at events, many at once: each counted once, its needs
    noted, and the person taken as having attended.

    Store commands for n records of one event: one read of the events, one transaction
    inserting the new records with their events, one counter update per event, one marking
    them counted, then for records naming needs one read of their clients and one insert of
    the needs, and per record naming a person the attendance (an indexed read, and a write
    when the person is a participant)."""
    wanted = {
        event.contact_id: event
        for event, _ in items
        if event.event_id is not None and event.employee_id != SYSTEM_EMPLOYEE_ID
    }  # the system's records of questionnaire answers are counted from the answers themselves
    causes = {
        event.contact_id: (envelope.correlation_id, str(envelope.event_id))
        for event, envelope in items
    }
    if not wanted:
        return
    programmes = await programmes_of(rt, (e.event_id for e in wanted.values() if e.event_id))
    events = [e for e in wanted.values() if e.event_id in programmes]
    with_needs = [e for e in events if e.need_item_codes]
    clients = (
        await read_by_ids(rt, CLIENTS, (e.client_id for e in with_needs), {"field_of_activity": 1})
        if with_needs
        else {}
    )
    records: list[tuple[dict[str, Any], list[ContractEvent]]] = []
    needs: list[dict[str, Any]] = []
    for event in events:
        assert event.event_id is not None
        programme_id = programmes[event.event_id]
        facts: list[ContractEvent] = []
        if event.need_item_codes or event.need_tags:
            facts.append(
                NeedsIdentified(
                    event_id=event.event_id,
                    client_id=event.client_id,
                    person_id=event.person_id,
                    programme_id=programme_id,
                    source=NeedsSource.CONTACT_RECORD,
                    source_id=event.contact_id,
                    item_codes=event.need_item_codes,
                    tags=event.need_tags,
                    identified_at=event.recorded_at,
                )
            )
        document = {
            "_id": event.contact_id,
            "event_id": event.event_id,
            "client_id": event.client_id,
            "person_id": event.person_id,
            "at": event.occurred_at,
        }
        records.append((document, facts))
        needs += need_docs(
            source=NeedsSource.CONTACT_RECORD.value,
            source_id=event.contact_id,
            item_codes=event.need_item_codes,
            event_id=event.event_id,
            programme_id=programme_id,
            client_id=event.client_id,
            person_id=event.person_id,
            field_of_activity=clients.get(event.client_id, {}).get("field_of_activity"),
            at=event.occurred_at,
        )
    contacts = EventContacts(rt)
    uncounted = await contacts.claim(records, causes)
    per_event: dict[str, int] = {}
    for doc in uncounted:
        per_event[doc["event_id"]] = per_event.get(doc["event_id"], 0) + 1
    for event_id, n in per_event.items():
        await Counters(rt).add(event_id, {"contact_records": n})
    await contacts.mark_counted([str(doc["_id"]) for doc in uncounted])
    await Needs(rt).insert(needs)
    for event in events:
        if event.person_id is not None and event.event_id is not None:
            await participants.attendance_inferred(
                rt, event.event_id, event.person_id, "contact_record"
            )


gathered_contacts: Gatherer[tuple[ContactRecorded, Envelope]] = Gatherer(record_contacts)
"""Contact records of the lanes the consumer runs at once, recorded together."""


async def on_contacts_recorded(
    rt: Runtime, items: Sequence[tuple[ContactRecorded, Envelope]]
) -> None:
    """The consumer's batch handler: a run of one client's consecutive records."""
    await gathered_contacts(rt, items)


async def on_contact_recorded(rt: Runtime, event: ContactRecorded, envelope: Envelope) -> None:
    """One record (a lane of one, or the fallback when a run failed), gathered with the records
    of the other lanes running at the same time."""
    await gathered_contacts(rt, [(event, envelope)])
