"""Proposal use cases: register, revise, move along the status machine, win or lose."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import ClientStatus, ProposalSide, ProposalStatus
from crm_kit.clock import utc_now
from crm_kit.problems import Forbidden, NotFound
from crm_kit.refusals import Refusals
from crm_kit.runtime import Runtime

from crm_proposals import events
from crm_proposals.commands import (
    Caller,
    ChangeStatus,
    EditDraft,
    RegisterProposal,
    RequestLine,
    ReviseProposal,
)
from crm_proposals.domain import proposal as domain
from crm_proposals.domain.back_office import BackOfficeStanding
from crm_proposals.domain.errors import (
    ClientNotEligible,
    InvalidValue,
    NoCurator,
    UnknownReference,
)
from crm_proposals.domain.plan import new_id
from crm_proposals.domain.pricing import LineInput, PricedLine, needs_approval
from crm_proposals.handlers import check_version
from crm_proposals.projections import Projections
from crm_proposals.repository import back_office
from crm_proposals.repository.catalogue import CatalogRepository
from crm_proposals.repository.proposals import ProposalRepository
from crm_proposals.settings import approval_threshold_bp


async def _lines(
    runtime: Runtime, requested: Sequence[RequestLine], currency: str | None
) -> tuple[str, tuple[LineInput, ...]]:
    """Catalogue items behind the lines: names, units and list prices as default prices."""
    items = await CatalogRepository(runtime).get_many({r.item_code for r in requested})
    resolved: list[LineInput] = []
    refusals = _refusals()
    for index, r in enumerate(requested):
        where = f"body.lines[{index}]"
        item = items.get(r.item_code)
        with refusals.check():
            if item is None:
                raise UnknownReference(
                    f"there is no catalogue item {r.item_code!r}", field=f"{where}.item_code"
                )
            if not item.active:
                raise InvalidValue(
                    f"catalogue item {r.item_code!r} is no longer offered",
                    field=f"{where}.item_code",
                )
        if item is None or not item.active:
            continue
        price_currency = r.unit_price_currency or item.currency
        currency = currency or price_currency
        if r.discount_currency is not None and r.discount_currency != currency:
            with refusals.check():
                raise InvalidValue(
                    f"the discount must be in {currency}",
                    field=f"{where}.discount.amount.currency",
                )
        resolved.append(
            LineInput(
                item_code=item.code,
                name=item.name,
                unit=item.unit,
                quantity=r.quantity,
                unit_price_minor=(
                    r.unit_price_minor if r.unit_price_minor is not None else item.list_price_minor
                ),
                currency=price_currency,
                discount=r.discount,
            )
        )
    refusals.raise_if_any()
    if currency is None:
        raise InvalidValue("a proposal needs at least one line", field="body.lines")
    return currency, tuple(resolved)


def _refusals() -> Refusals:
    """A collector of the value refusals (422) of one request's independent parts."""
    return Refusals(InvalidValue, UnknownReference)


async def _check_participants(
    runtime: Runtime, client_id: str, participants: Sequence[domain.Participant]
) -> None:
    """Employees must be known; a client-side person must be one of the client's people."""
    projections = Projections(runtime.db)
    employees = await projections.employees({p.employee_id for p in participants if p.employee_id})
    people = await projections.people({p.person_id for p in participants if p.person_id})
    refusals = _refusals()
    for index, p in enumerate(participants):
        where = f"body.participants[{index}]"
        if p.side is ProposalSide.CLIENT and p.person_id and people.get(p.person_id) != client_id:
            with refusals.check():
                raise UnknownReference(
                    f"person {p.person_id} is not known as one of client {client_id}'s people",
                    field=f"{where}.person_id",
                )
        if p.employee_id and p.employee_id not in employees:
            with refusals.check():
                raise UnknownReference(
                    f"employee {p.employee_id} is not known", field=f"{where}.employee_id"
                )
        if (
            p.side is ProposalSide.PARTNER
            and p.client_id
            and await projections.client(p.client_id) is None
        ):
            with refusals.check():
                raise UnknownReference(
                    f"partner {p.client_id} is not a known client", field=f"{where}.client_id"
                )
    refusals.raise_if_any()


async def _curator(runtime: Runtime, command: RegisterProposal, caller: Caller) -> str:
    projections = Projections(runtime.db)
    client = await projections.client(command.client_id)
    if client is None:
        raise UnknownReference(f"client {command.client_id} is not known", field="body.client_id")
    if client.merged_into:
        raise UnknownReference(
            f"client {command.client_id} was merged into {client.merged_into}; propose to that one",
            field="body.client_id",
        )
    if client.status == ClientStatus.FORMER.value:
        raise ClientNotEligible(
            f"client {command.client_id} is a former client; make it a client again in "
            "contacts before proposing",
            field="body.client_id",
        )
    wanted = command.curator_id or client.curator_id
    if wanted is None:
        raise NoCurator(
            f"client {command.client_id} has no curator yet; assign one in contacts",
            field="body.curator_id",
        )
    if wanted != client.curator_id:
        if not caller.admin:
            raise Forbidden(
                "the curator of a proposal is the client's curator; naming another one needs "
                "the scope proposals:admin"
            )
        known = await projections.employees({wanted})
        if wanted not in known or not known[wanted].active:
            raise UnknownReference(
                f"employee {wanted} is not an active employee", field="body.curator_id"
            )
    return wanted


async def register(runtime: Runtime, command: RegisterProposal, caller: Caller) -> domain.Proposal:
    curator = await _curator(runtime, command, caller)
    refusals = _refusals()
    with refusals.check():
        currency, lines = await _lines(runtime, command.lines, command.currency)
    with refusals.check():
        await _check_participants(runtime, command.client_id, command.participants)
    refusals.raise_if_any()
    proposal = domain.register(
        proposal_id=new_id(),
        client_id=command.client_id,
        curator_id=curator,
        content=domain.Content(
            title=command.title,
            currency=currency,
            lines=lines,
            preferences=command.preferences,
            valid_until=command.valid_until,
            participants=command.participants,
        ),
        now=utc_now(),
        registered_by=caller.employee_id,
    )
    return await ProposalRepository(runtime).add(proposal, [events.proposal_registered(proposal)])


async def get(runtime: Runtime, proposal_id: str) -> domain.Proposal:
    proposal = await ProposalRepository(runtime).get(proposal_id)
    if proposal is None:
        raise NotFound(f"proposal {proposal_id} not found")
    return proposal


async def back_office_of(runtime: Runtime, proposal_id: str) -> BackOfficeStanding:
    """What the back office said about the proposal (nothing, for one not won)."""
    await get(runtime, proposal_id)
    return BackOfficeStanding(await back_office.facts_of(runtime.db, proposal_id))


async def load_for_change(runtime: Runtime, proposal_id: str, expected: int) -> domain.Proposal:
    proposal = await get(runtime, proposal_id)
    check_version("proposal", proposal_id, proposal.version, expected)
    return proposal


async def revise(runtime: Runtime, command: ReviseProposal) -> domain.Proposal:
    proposal = await load_for_change(runtime, command.proposal_id, command.expected_version)
    current = proposal.current
    refusals = _refusals()
    with refusals.check():
        currency, lines = await _lines(runtime, command.lines, current.currency)
    participants = current.participants
    if command.participants is not None:
        participants = command.participants
        with refusals.check():
            await _check_participants(runtime, proposal.client_id, participants)
    refusals.raise_if_any()
    revision = proposal.revise(
        domain.Content(
            title=command.title or current.title,
            currency=currency,
            lines=lines,
            preferences=command.preferences
            if command.preferences is not None
            else current.preferences,
            valid_until=command.valid_until or current.valid_until,
            participants=participants,
        ),
        utc_now(),
        command.reason,
    )
    return await ProposalRepository(runtime).save(
        proposal,
        [events.proposal_revised(proposal, revision)],
        expected_version=command.expected_version,
        new_revision=revision,
    )


EDITABLE_FIELDS = ("title", "preferences", "valid_until", "lines", "participants")


async def edit_draft(runtime: Runtime, command: EditDraft) -> domain.Proposal:
    """Edit a draft in place: same revision, totals recomputed, ProposalDraftEdited."""
    proposal = await load_for_change(runtime, command.proposal_id, command.expected_version)
    proposal.check_draft()  # refuse before resolving the input
    changed = [f for f in EDITABLE_FIELDS if f in command.changed]
    if not changed:
        raise InvalidValue(
            f"name at least one of {', '.join(EDITABLE_FIELDS)} to change", field="body"
        )
    for name in ("title", "lines"):
        if name in command.changed and getattr(command, name) is None:
            raise InvalidValue(f"{name} cannot be null", field=f"body.{name}")
    current = proposal.current
    refusals = _refusals()
    currency, lines = (
        current.currency,
        tuple(_as_input(li, current.currency) for li in current.lines),
    )
    if command.lines is not None:
        with refusals.check():
            currency, lines = await _lines(runtime, command.lines, current.currency)
    participants = current.participants
    if "participants" in command.changed:
        participants = command.participants or ()
        with refusals.check():
            await _check_participants(runtime, proposal.client_id, participants)
    refusals.raise_if_any()
    revision = proposal.edit_draft(
        domain.Content(
            title=command.title if command.title is not None else current.title,
            currency=currency,
            lines=lines,
            preferences=command.preferences
            if "preferences" in command.changed
            else current.preferences,
            valid_until=command.valid_until
            if "valid_until" in command.changed
            else current.valid_until,
            participants=participants,
        ),
        utc_now(),
        tuple(changed),
    )
    return await ProposalRepository(runtime).save(
        proposal,
        [events.draft_edited(proposal, revision, tuple(changed))],
        expected_version=command.expected_version,
        edited_draft=True,
    )


def _as_input(line: PricedLine, currency: str) -> LineInput:
    """A stored line as input again, to re-price it unchanged."""
    return LineInput(
        item_code=line.item_code,
        name=line.name,
        unit=line.unit,
        quantity=line.quantity,
        unit_price_minor=line.unit_price_minor,
        currency=currency,
        discount=line.discount,
    )


async def change_status(runtime: Runtime, command: ChangeStatus) -> domain.Proposal:
    proposal = await load_for_change(runtime, command.proposal_id, command.expected_version)
    now = utc_now()
    change = proposal.move_to(
        command.status,
        now,
        approval_threshold_bp=approval_threshold_bp(runtime.settings),
        reason=command.reason,
    )
    outgoing: list[ContractEvent]
    if command.status is ProposalStatus.WON:
        projections = Projections(runtime.db)
        client = await projections.client(proposal.client_id)
        contact = await projections.contact_person(
            proposal.client_id, events.contact_candidates(proposal)
        )
        outgoing = [events.proposal_won(proposal, client, contact, now)]
    elif command.status is ProposalStatus.LOST:
        proposal.competitor = command.competitor
        outgoing = [events.proposal_lost(proposal, command.reason or "", command.competitor, now)]
    else:
        outgoing = [events.status_changed(proposal, change)]
    return await ProposalRepository(runtime).save(
        proposal, outgoing, expected_version=command.expected_version
    )


async def list_proposals(
    runtime: Runtime,
    *,
    client_id: str | None,
    status: ProposalStatus | None,
    curator_id: str | None,
    cursor: str | None,
    limit: int | None,
    flagged: bool | None = None,
) -> tuple[list[domain.Proposal], str | None]:
    return await ProposalRepository(runtime).list(
        client_id=client_id,
        status=status,
        curator_id=curator_id,
        cursor=cursor,
        limit=limit,
        flagged=flagged,
    )


def requires_approval(runtime: Runtime, proposal: domain.Proposal) -> bool:
    return needs_approval(proposal.current.lines, approval_threshold_bp(runtime.settings))


def approval_pending(runtime: Runtime, proposal: domain.Proposal) -> bool:
    return proposal.approval_pending(approval_threshold_bp(runtime.settings))


async def history(runtime: Runtime, proposal_id: str) -> list[dict[str, Any]]:
    """Registration, revisions, status changes and linked contact records, oldest first."""
    proposal = await get(runtime, proposal_id)
    entries: list[dict[str, Any]] = []
    for r in proposal.revisions:
        entries.append(
            {
                "at": r.created_at,
                "kind": "registered" if r.number == 1 else "revised",
                "summary": r.title if r.number == 1 else (r.reason or f"revision {r.number}"),
                "revision": r.number,
            }
        )
    for e in proposal.draft_edits:
        detail = ""
        if "preferences" in e.changed_fields:
            detail = (
                f": preferences now {e.preferences!r}" if e.preferences else ": preferences cleared"
            )
        entries.append(
            {
                "at": e.at,
                "kind": "edited",
                "summary": f"draft edited ({', '.join(e.changed_fields)}){detail}",
                "revision": 1,
            }
        )
    for m in proposal.client_merges:
        entries.append(
            {
                "at": m.at,
                "kind": "client_merged",
                "summary": f"client {m.from_client_id} merged into {m.to_client_id}",
            }
        )
    for h in proposal.history:
        entries.append(
            {
                "at": h.at,
                "kind": "status_changed",
                "summary": f"{h.from_status.value} → {h.to_status.value}"
                + (f": {h.reason}" if h.reason else ""),
                "status": h.to_status,
            }
        )
    for c in await Projections(runtime.db).contacts_of(proposal_id):
        entries.append(
            {
                "at": c["occurred_at"],
                "kind": "contact",
                "summary": c["summary"] + (f" — {c['outcome']}" if c.get("outcome") else ""),
                "contact_id": c["_id"],
                "employee_id": c.get("employee_id"),
                "need_item_codes": c.get("need_item_codes", []),
            }
        )
    entries.sort(key=lambda e: e["at"])
    return entries
