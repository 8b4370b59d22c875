"""The per-client timeline, fed by the contacts topic and the other services' topics.

Each fact about a client becomes one entry whose id is the fact's envelope ``event_id``, so a
redelivered or replayed fact lands on the same entry. A fact about a client this base does not
know is left out; a fact about a merged client goes to its survivor.
"""

from __future__ import annotations

from datetime import datetime

from crm_contracts import campaigns as k
from crm_contracts import contacts as c
from crm_contracts import notify as n
from crm_contracts import proposals as p
from crm_contracts.common import Recipient
from crm_contracts.envelope import Envelope
from crm_contracts.values import NeedsSource, RecipientKind, SelectionMode
from crm_kit.runtime import Runtime

from crm_contacts.handlers import intake
from crm_contacts.repository import (
    ClientRepository,
    RecordRepository,
    TimelineEntry,
    TimelineRepository,
)

_MAX_HOPS = 5


async def live_client_id(runtime: Runtime, client_id: str | None) -> str | None:
    """The client id a fact should be shown under (following merges), or ``None``."""
    clients = ClientRepository(runtime)
    for _ in range(_MAX_HOPS):
        if client_id is None:
            return None
        client = await clients.get(client_id)
        if client is None:
            return None
        if client.merged_into is None:
            return client.client_id
        client_id = client.merged_into
    return client_id


async def _put(
    runtime: Runtime,
    envelope: Envelope,
    client_id: str | None,
    *,
    at: datetime,
    kind: str,
    source: str,
    summary: str,
    refs: dict[str, str | None],
    natural_id: str | None = None,
) -> None:
    """Upsert the entry; ``natural_id`` keeps one entry per fact even when it is re-sent in a
    new envelope (a producer's replay), otherwise the envelope's id does."""
    live = await live_client_id(runtime, client_id)
    if live is None:
        return
    await TimelineRepository(runtime).put(
        TimelineEntry(
            entry_id=natural_id or str(envelope.event_id),
            client_id=live,
            at=at,
            kind=kind,
            source=source,
            summary=summary[:300],
            refs={key: value for key, value in refs.items() if value},
        )
    )


def _client_of(recipient: Recipient) -> str | None:
    return recipient.client_id if recipient.kind is RecipientKind.PERSON else None


async def _client_of_person(
    runtime: Runtime, client_id: str | None, person_id: str | None
) -> str | None:
    """The client named, or else the one the person belongs to (if this base knows them)."""
    if client_id is not None or person_id is None:
        return client_id
    return await ClientRepository(runtime).client_id_of_person(person_id)


# -- contacts' own facts --------------------------------------------------------------------------
async def on_contact_recorded(runtime: Runtime, e: c.ContactRecorded, env: Envelope) -> None:
    summary = f"{e.kind.value.replace('_', ' ')} ({e.direction.value}): {e.summary}"
    await _put(
        runtime,
        env,
        e.client_id,
        at=e.occurred_at,
        kind="contact",
        source="contacts",
        summary=summary,
        natural_id=f"contact:{e.contact_id}",
        refs={
            "contact_id": e.contact_id,
            "employee_id": e.employee_id,
            "person_id": e.person_id,
            "event_id": e.event_id,
            "proposal_id": e.proposal_id,
        },
    )


async def on_clients_merged(runtime: Runtime, e: c.ClientsMerged, env: Envelope) -> None:
    await TimelineRepository(runtime).repoint(
        from_client=e.merged_client_id, to_client=e.survivor_client_id
    )
    clients = ClientRepository(runtime)
    await clients.refresh_search_entry(e.merged_client_id)
    await clients.refresh_search_entry(e.survivor_client_id)


ClientFact = (
    c.ClientRegistered
    | c.ClientUpdated
    | c.ClientStatusChanged
    | c.PersonAdded
    | c.PersonUpdated
    | c.CuratorAssigned
)


async def on_client_fact(runtime: Runtime, e: ClientFact, env: Envelope) -> None:
    """Repair the client's search entry should the write after its document have been lost
    (a crash between the two); a current entry is left as it is."""
    await ClientRepository(runtime).refresh_search_entry(e.client_id)


# -- campaigns ------------------------------------------------------------------------------------
async def on_participants_added(runtime: Runtime, e: k.ParticipantsAdded, env: Envelope) -> None:
    """One entry per client's person added to the event (employees are not clients')."""
    how = "by portrait" if e.selection is SelectionMode.PORTRAIT else "by hand"
    for participant in e.participants:
        if participant.kind is not RecipientKind.PERSON:
            continue
        client_id = await _client_of_person(runtime, participant.client_id, participant.person_id)
        await _put(
            runtime,
            env,
            client_id,
            at=e.added_at,
            kind="participant_added",
            source="campaigns",
            summary=f"Added to event {e.event_id} as {participant.role.value} ({how})",
            natural_id=f"participant_added:{participant.participant_id}:{e.added_at.isoformat()}",
            refs={
                "event_id": e.event_id,
                "participant_id": participant.participant_id,
                "person_id": participant.person_id,
            },
        )


async def _client_of_needs(runtime: Runtime, e: k.NeedsIdentified) -> str | None:
    """The client the needs are about: named, else found from their source (the potential
    client or contact record a questionnaire made here, or the contact record itself), else
    the person's client."""
    if e.client_id is not None:
        return e.client_id
    if e.source is NeedsSource.QUESTIONNAIRE:
        client = await ClientRepository(runtime).get(intake.derived_id("client", e.source_id))
        if client is not None:
            return client.client_id
        record_id = intake.derived_id("contact", e.source_id)
    else:
        record_id = e.source_id
    record = await RecordRepository(runtime).get(record_id)
    if record is not None:
        return record.client_id
    return await _client_of_person(runtime, None, e.person_id)


async def on_needs_identified(runtime: Runtime, e: k.NeedsIdentified, env: Envelope) -> None:
    client_id = await _client_of_needs(runtime, e)
    needs = ", ".join([*e.item_codes, *e.tags]) or "none named"
    await _put(
        runtime,
        env,
        client_id,
        at=e.identified_at,
        kind="needs_identified",
        source="campaigns",
        summary=f"Needs identified ({e.source.value.replace('_', ' ')}): {needs}",
        natural_id=f"needs:{e.source.value}:{e.source_id}",
        refs={
            "event_id": e.event_id,
            "person_id": e.person_id,
            "programme_id": e.programme_id,
            "source_id": e.source_id,
        },
    )


async def on_invitation_requested(
    runtime: Runtime, e: k.InvitationRequested, env: Envelope
) -> None:
    await _put(
        runtime,
        env,
        _client_of(e.recipient),
        at=e.requested_at,
        kind="invited",
        source="campaigns",
        summary=f"Invited to {e.event_title}",
        refs={"event_id": e.event_id, "participant_id": e.participant_id},
    )


async def on_invitation_answered(runtime: Runtime, e: k.InvitationAnswered, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        _client_of(e.recipient),
        at=e.answered_at,
        kind="answered",
        source="campaigns",
        summary=f"Invitation {e.answer.value}" + (f": {e.comment}" if e.comment else ""),
        refs={"event_id": e.event_id, "participant_id": e.participant_id},
    )


async def on_attendance_recorded(runtime: Runtime, e: k.AttendanceRecorded, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        _client_of(e.recipient),
        at=e.recorded_at,
        kind="attended" if e.attended else "no_show",
        source="campaigns",
        summary=("Attended" if e.attended else "Did not attend") + f" ({e.method.value})",
        refs={"event_id": e.event_id, "participant_id": e.participant_id},
    )


async def on_questionnaire_submitted(
    runtime: Runtime, e: k.QuestionnaireSubmitted, env: Envelope
) -> None:
    client_id = await intake.questionnaire_submitted(runtime, e, str(env.event_id))
    interest = ", ".join(e.product_interest_codes)
    await _put(
        runtime,
        env,
        client_id,
        at=e.submitted_at,
        kind="questionnaire",
        source="campaigns",
        summary=f"Questionnaire ({e.channel.value})"
        + (f": interested in {interest}" if interest else ""),
        natural_id=f"questionnaire:{e.response_id}",
        refs={
            "event_id": e.event_id,
            "response_id": e.response_id,
            "person_id": e.respondent.person_id,
        },
    )


# -- proposals ------------------------------------------------------------------------------------
async def on_proposal_registered(runtime: Runtime, e: p.ProposalRegistered, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        e.client_id,
        at=e.registered_at,
        kind="proposal_registered",
        source="proposals",
        summary=f"Proposal registered: {e.title}",
        natural_id=f"proposal_registered:{e.proposal_id}",
        refs={"proposal_id": e.proposal_id, "curator_id": e.curator_id},
    )


async def on_proposal_revised(runtime: Runtime, e: p.ProposalRevised, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        e.client_id,
        at=e.revised_at,
        kind="proposal_revised",
        source="proposals",
        summary=f"Proposal revised (revision {e.revision}): {e.title}"
        + (f", {e.reason}" if e.reason else ""),
        natural_id=f"proposal_revised:{e.proposal_id}:{e.revision}",
        refs={"proposal_id": e.proposal_id, "revision": str(e.revision)},
    )


async def on_proposal_won(runtime: Runtime, e: p.ProposalWon, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        e.client_id,
        at=e.won_at,
        kind="proposal_won",
        source="proposals",
        summary=f"Proposal won: {e.title}",
        natural_id=f"proposal_won:{e.proposal_id}",
        refs={"proposal_id": e.proposal_id},
    )


async def on_proposal_lost(runtime: Runtime, e: p.ProposalLost, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        e.client_id,
        at=e.lost_at,
        kind="proposal_lost",
        source="proposals",
        summary=f"Proposal lost: {e.reason}",
        natural_id=f"proposal_lost:{e.proposal_id}",
        refs={"proposal_id": e.proposal_id},
    )


# -- notify ---------------------------------------------------------------------------------------
async def on_notification_delivered(
    runtime: Runtime, e: n.NotificationDelivered, env: Envelope
) -> None:
    await _put(
        runtime,
        env,
        _client_of(e.recipient),
        at=e.delivered_at,
        kind="notification_delivered",
        source="notify",
        summary=f"{e.kind.value.replace('_', ' ')} delivered by {e.channel.value}",
        natural_id=f"notification:{e.notification_id}",
        refs={
            "notification_id": e.notification_id,
            "event_id": e.event_id,
            "person_id": e.recipient.id,
        },
    )


async def on_notification_failed(runtime: Runtime, e: n.NotificationFailed, env: Envelope) -> None:
    await _put(
        runtime,
        env,
        _client_of(e.recipient),
        at=e.failed_at,
        kind="notification_failed",
        source="notify",
        summary=f"{e.kind.value.replace('_', ' ')} not delivered: {e.reason}",
        natural_id=f"notification:{e.notification_id}",
        refs={
            "notification_id": e.notification_id,
            "event_id": e.event_id,
            "person_id": e.recipient.id,
        },
    )
