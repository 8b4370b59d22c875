"""The per-client timeline, fed by the contacts topic and the other services' topics.

Contacts' own facts about a client (registration, status moves, people added, curators, merges
and contact records) come back through the contacts topic like the other services' facts, so
the timeline has one way in. Most events make one entry each, described by ``FACTS`` and put by
:func:`on_fact`; the few that need lookups or side effects have handlers of their own. An entry's
id is the fact's natural id where it has one (so a producer's replay in a new envelope lands on
the same entry), else its envelope ``event_id`` (so a redelivery does). A fact about a client
this base does not know is left out; a fact about a merged client goes to its survivor.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from crm_contracts import backoffice as b
from crm_contracts import campaigns as k
from crm_contracts import contacts as c
from crm_contracts import notify as n
from crm_contracts import proposals as p
from crm_contracts.base import ContractEvent
from crm_contracts.common import Recipient
from crm_contracts.envelope import Envelope
from crm_contracts.money import Money
from crm_contracts.topics import BACKOFFICE, CAMPAIGNS, CONTACTS, NOTIFY, PROPOSALS
from crm_contracts.values import NeedsSource, RecipientKind, SelectionMode
from crm_kit.runtime import Runtime

from crm_contacts.handlers import intake
from crm_contacts.handlers.clients import activate_on_win
from crm_contacts.handlers.people import withdraw_on_unsubscribe
from crm_contacts.repository import (
    ClientRepository,
    RecordRepository,
    TimelineEntry,
    TimelineRepository,
)

_MAX_HOPS = 5


async def live_client_id(runtime: Runtime, client_id: str | None) -> str | None:
    """The client id a fact should be shown under (following merges), or ``None``."""
    filed = await _filed_under(runtime, client_id)
    return filed[0] if filed else None


async def _filed_under(runtime: Runtime, client_id: str | None) -> tuple[str, str | None] | None:
    """The client a fact is shown under (following merges) and, when that took a merge, the
    client merged into it last: what a merge's repointing of the entry would have left in
    ``merged_from``, so an entry is the same whether its fact came before the merge or after
    (as in a rebuild, which reads the clients as they are now)."""
    clients = ClientRepository(runtime)
    merged_from: str | None = None
    for _ in range(_MAX_HOPS):
        if client_id is None:
            return None
        client = await clients.get(client_id)
        if client is None:
            return None
        if client.merged_into is None:
            return client.client_id, merged_from
        merged_from, client_id = client.client_id, client.merged_into
    return (client_id, merged_from) if client_id is not None else None


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
    filed = await _filed_under(runtime, client_id)
    if filed is None:
        return
    live, merged_from = filed
    await TimelineRepository(runtime).put(
        TimelineEntry(
            entry_id=natural_id or str(envelope.event_id),
            client_id=live,
            at=at,
            kind=kind,
            source=source,
            summary=summary[:300],
            refs={key: value for key, value in refs.items() if value},
            actor=envelope.actor.model_dump() if envelope.actor else None,
            merged_from=merged_from,
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


# -- the facts that make one entry each, described by a table ------------------------------------
@dataclass(frozen=True)
class Fact:
    """What one event says about one client, for the timeline."""

    client_id: str | None
    at: datetime
    kind: str
    summary: str
    refs: dict[str, str | None]
    natural_id: str | None = None
    """One entry per fact even when it is re-sent in a new envelope; else the envelope's id."""


def _label(value: Enum) -> str:
    return str(value.value).replace("_", " ")


def _contact_recorded(e: c.ContactRecorded) -> Fact:
    return Fact(
        e.client_id,
        e.occurred_at,
        "contact",
        f"{_label(e.kind)} ({e.direction.value}): {e.summary}",
        {
            "contact_id": e.contact_id,
            "employee_id": e.employee_id,
            "person_id": e.person_id,
            "event_id": e.event_id,
            "proposal_id": e.proposal_id,
        },
        f"contact:{e.contact_id}",
    )


def _client_registered(e: c.ClientRegistered) -> Fact:
    return Fact(
        e.client_id,
        e.registered_at,
        "registered",
        f"Registered as {_label(e.status)} ({_label(e.source.kind)})",
        {
            "registered_by": e.registered_by,
            "event_id": e.source.event_id,
            "programme_id": e.source.programme_id,
            "response_id": e.source.questionnaire_response_id,
        },
        f"registered:{e.client_id}",
    )


def _status_changed(e: c.ClientStatusChanged) -> Fact:
    return Fact(
        e.client_id,
        e.changed_at,
        "status_changed",
        f"Status {_label(e.from_status)} → {_label(e.to_status)}"
        + (f": {e.reason}" if e.reason else ""),
        {"changed_by": e.changed_by, "version": str(e.version)},
        f"status_changed:{e.client_id}:{e.version}",
    )


def _person_added(e: c.PersonAdded) -> Fact:
    return Fact(
        e.client_id,
        e.added_at,
        "person_added",
        f"Person added: {e.name}" + (f", {e.position}" if e.position else ""),
        {"person_id": e.person_id},
        f"person_added:{e.person_id}",
    )


def _person_erased(e: c.PersonErased) -> Fact:
    return Fact(
        e.client_id,
        e.erased_at,
        "person_erased",
        "Person erased on request",
        {"person_id": e.person_id},
        f"person_erased:{e.person_id}",
    )


def _curator_assigned(e: c.CuratorAssigned) -> Fact:
    return Fact(
        e.client_id,
        e.assigned_at,
        "curator_assigned",
        f"Curator assigned: {e.curator_id}"
        + (f" (was {e.previous_curator_id})" if e.previous_curator_id else ""),
        {
            "curator_id": e.curator_id,
            "previous_curator_id": e.previous_curator_id,
            "assigned_by": e.assigned_by,
        },
        f"curator_assigned:{e.client_id}:{e.assigned_at.isoformat()}",
    )


def _clients_merged(e: c.ClientsMerged) -> Fact:
    return Fact(
        e.survivor_client_id,
        e.merged_at,
        "merged",
        f"Client {e.merged_client_id} merged into this one ({len(e.moved_person_ids)} people, "
        f"{len(e.moved_contact_ids)} contact records moved)",
        {"merged_client_id": e.merged_client_id, "merged_by": e.merged_by},
        f"merged:{e.merged_client_id}",
    )


def _invited(e: k.InvitationRequested) -> Fact:
    return Fact(
        _client_of(e.recipient),
        e.requested_at,
        "invited",
        f"Invited to {e.event_title}",
        {"event_id": e.event_id, "participant_id": e.participant_id},
    )


def _answered(e: k.InvitationAnswered) -> Fact:
    return Fact(
        _client_of(e.recipient),
        e.answered_at,
        "answered",
        f"Invitation {e.answer.value}" + (f": {e.comment}" if e.comment else ""),
        {"event_id": e.event_id, "participant_id": e.participant_id},
    )


def _attendance(e: k.AttendanceRecorded) -> Fact:
    return Fact(
        _client_of(e.recipient),
        e.recorded_at,
        "attended" if e.attended else "no_show",
        ("Attended" if e.attended else "Did not attend") + f" ({e.method.value})",
        {"event_id": e.event_id, "participant_id": e.participant_id},
    )


def _proposal_registered(e: p.ProposalRegistered) -> Fact:
    return Fact(
        e.client_id,
        e.registered_at,
        "proposal_registered",
        f"Proposal registered: {e.title}",
        {"proposal_id": e.proposal_id, "curator_id": e.curator_id},
        f"proposal_registered:{e.proposal_id}",
    )


def _proposal_revised(e: p.ProposalRevised) -> Fact:
    return Fact(
        e.client_id,
        e.revised_at,
        "proposal_revised",
        f"Proposal revised (revision {e.revision}): {e.title}"
        + (f", {e.reason}" if e.reason else ""),
        {"proposal_id": e.proposal_id, "revision": str(e.revision)},
        f"proposal_revised:{e.proposal_id}:{e.revision}",
    )


def _version(version: int | None) -> str | None:
    return str(version) if version is not None else None


def _proposal_status_changed(e: p.ProposalStatusChanged) -> Fact:
    # Keyed by the move itself (target and time), which messages of either schema version
    # carry, so a redelivery or a producer's replay lands on the same entry.
    return Fact(
        e.client_id,
        e.changed_at,
        "proposal_status_changed",
        f"Proposal {_label(e.from_status)} → {_label(e.to_status)}",
        {"proposal_id": e.proposal_id, "version": _version(e.version)},
        f"proposal_status_changed:{e.proposal_id}:{e.to_status.value}:{e.changed_at.isoformat()}",
    )


def _proposal_won(e: p.ProposalWon) -> Fact:
    return Fact(
        e.client_id,
        e.won_at,
        "proposal_won",
        f"Proposal won: {e.title}",
        {"proposal_id": e.proposal_id, "revision": str(e.revision), "version": _version(e.version)},
        f"proposal_won:{e.proposal_id}",
    )


def _proposal_lost(e: p.ProposalLost) -> Fact:
    return Fact(
        e.client_id,
        e.lost_at,
        "proposal_lost",
        f"Proposal lost: {e.reason}",
        {"proposal_id": e.proposal_id, "revision": str(e.revision), "version": _version(e.version)},
        f"proposal_lost:{e.proposal_id}",
    )


def _delivered(e: n.NotificationDelivered) -> Fact:
    return Fact(
        _client_of(e.recipient),
        e.delivered_at,
        "notification_delivered",
        f"{_label(e.kind)} delivered by {e.channel.value}",
        {"notification_id": e.notification_id, "event_id": e.event_id, "person_id": e.recipient.id},
        f"notification:{e.notification_id}",
    )


def _failed(e: n.NotificationFailed) -> Fact:
    return Fact(
        _client_of(e.recipient),
        e.failed_at,
        "notification_failed",
        f"{_label(e.kind)} not delivered: {e.reason}",
        {"notification_id": e.notification_id, "event_id": e.event_id, "person_id": e.recipient.id},
        f"notification:{e.notification_id}",
    )


def _amount(money: Money) -> str:
    return f"{money.amount_minor / 100:,.2f} {money.currency}".replace(",", " ")


def _back_office(e: b.BackofficeEvent) -> Fact:
    match e:
        case b.ContractSigned(amount=amount):
            summary = "Contract signed" + (f" for {_amount(amount)}" if amount else "")
        case b.OrderPlaced():
            summary = "Order placed"
        case b.PaymentReceived(amount=amount):
            summary = f"Paid {_amount(amount)}"
        case b.DealRefused(reason=reason):
            summary = f"Deal refused: {reason}"
        case _:
            raise TypeError(f"no timeline entry for {e.event_type}")
    kind = re.sub(r"(?<!^)(?=[A-Z])", "_", e.event_type).lower()  # ContractSigned: contract_signed
    # Keyed by the system's document and the kind of fact: a redelivery lands on the same
    # entry; each instalment (its own payment document) gets its own.
    return Fact(
        e.client_id,
        e.happened_at,
        kind,
        f"{summary} ({e.system} {e.document_number})",
        {"proposal_id": e.proposal_id, "system": e.system, "document_number": e.document_number},
        f"{kind}:{e.system}:{e.document_number}",
    )


def _unsubscribed(e: n.UnsubscribeRequested) -> Fact:
    return Fact(
        e.client_id,
        e.requested_at,
        "unsubscribed",
        f"Unsubscribed from messages by {e.channel.value} (link in a message)",
        {"person_id": e.person_id, "notification_id": e.notification_id},
    )


FACTS: dict[type[ContractEvent], Callable[[Any], Fact]] = {
    c.ContactRecorded: _contact_recorded,
    c.ClientRegistered: _client_registered,
    c.ClientStatusChanged: _status_changed,
    c.PersonAdded: _person_added,
    c.PersonErased: _person_erased,
    c.CuratorAssigned: _curator_assigned,
    c.ClientsMerged: _clients_merged,
    k.InvitationRequested: _invited,
    k.InvitationAnswered: _answered,
    k.AttendanceRecorded: _attendance,
    p.ProposalRegistered: _proposal_registered,
    p.ProposalRevised: _proposal_revised,
    p.ProposalStatusChanged: _proposal_status_changed,
    p.ProposalWon: _proposal_won,
    p.ProposalLost: _proposal_lost,
    n.NotificationDelivered: _delivered,
    n.NotificationFailed: _failed,
    b.ContractSigned: _back_office,
    b.OrderPlaced: _back_office,
    b.PaymentReceived: _back_office,
    b.DealRefused: _back_office,
    n.UnsubscribeRequested: _unsubscribed,
}
"""The events that each make one timeline entry, and how."""

_SOURCES = {
    CONTACTS: "contacts",
    CAMPAIGNS: "campaigns",
    PROPOSALS: "proposals",
    NOTIFY: "notify",
    BACKOFFICE: "backoffice",
}


async def on_fact(runtime: Runtime, e: ContractEvent, env: Envelope) -> None:
    """The timeline entry of one of ``FACTS``."""
    fact = FACTS[type(e)](e)
    await _put(
        runtime,
        env,
        fact.client_id,
        at=fact.at,
        kind=fact.kind,
        source=_SOURCES[e.topic],
        summary=fact.summary,
        refs=fact.refs,
        natural_id=fact.natural_id,
    )


async def on_proposal_won(runtime: Runtime, e: p.ProposalWon, env: Envelope) -> None:
    """A won deal joins the timeline and makes a potential (or former) client active."""
    await on_fact(runtime, e, env)
    await activate_on_win(runtime, e.client_id, e.proposal_id)


async def on_deal_going_ahead(
    runtime: Runtime, e: b.ContractSigned | b.PaymentReceived, env: Envelope
) -> None:
    """A signed contract or a payment joins the timeline and, like the win, makes a potential
    (or former) client active: the back office may answer for a deal whose win came through
    before the client's status could move, or for a client moved back to former since."""
    await on_fact(runtime, e, env)
    await activate_on_win(runtime, e.client_id, e.proposal_id)


async def on_unsubscribe_requested(
    runtime: Runtime, e: n.UnsubscribeRequested, env: Envelope
) -> None:
    """A person unsubscribed through a message's link: the channel's consent is withdrawn
    (``ConsentChanged``, which notify and campaigns follow) and the client's timeline says so."""
    await withdraw_on_unsubscribe(runtime, e.client_id, e.person_id, e.channel)
    await on_fact(runtime, e, env)


async def on_person_erased(runtime: Runtime, e: c.PersonErased, env: Envelope) -> None:
    """The entry that named the person names them no more (a replay of the topic, too), and
    the erasure joins the timeline."""
    await TimelineRepository(runtime).forget_person(e.person_id)
    await on_fact(runtime, e, env)


async def on_clients_merged(runtime: Runtime, e: c.ClientsMerged, env: Envelope) -> None:
    """The merged client's entries move to the survivor, which also gets the merge's own."""
    await TimelineRepository(runtime).repoint(
        from_client=e.merged_client_id, to_client=e.survivor_client_id
    )
    clients = ClientRepository(runtime)
    await clients.refresh_shared(e.merged_client_id)
    await clients.refresh_shared(e.survivor_client_id)
    await on_fact(runtime, e, env)


async def on_client_expired(runtime: Runtime, e: c.ClientExpired, _: Envelope) -> None:
    """A prospect deleted at the end of its retention takes its timeline with it (entries
    repointed to it from the clients merged into it included)."""
    await TimelineRepository(runtime).remove([e.client_id, *e.merged_client_ids])


ClientFact = (
    c.ClientRegistered
    | c.ClientUpdated
    | c.ClientStatusChanged
    | c.PersonAdded
    | c.PersonUpdated
    | c.CuratorAssigned
)


async def on_client_fact(runtime: Runtime, e: ClientFact, env: Envelope) -> None:
    """Mark the client's shared duplicate keys again, should the marking after its write
    have been lost (a crash between the two), then put the fact on the timeline if it is one
    of ``FACTS`` (updates are not)."""
    known = await ClientRepository(runtime).refresh_shared(e.client_id)
    if known and type(e) in FACTS:
        await on_fact(runtime, e, env)


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
