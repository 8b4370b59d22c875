"""Proposals to a client: register, read, revise, move along the status machine, win, lose."""

from __future__ import annotations

from typing import Annotated, Any

from crm_contracts.values import DiscountKind, ProposalStatus
from crm_kit.cursors import PageCursor
from crm_kit.http import IdPath, IdQuery
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Path, Query, Response, status

from crm_proposals.api import views
from crm_proposals.api.common import (
    IfMatch,
    Reader,
    Writer,
    caller_of,
    expected_version,
    set_etag,
)
from crm_proposals.commands import (
    ChangeStatus,
    EditDraft,
    RegisterProposal,
    RequestLine,
    ReviseProposal,
)
from crm_proposals.domain.pricing import Discount
from crm_proposals.domain.proposal import Participant, Proposal
from crm_proposals.handlers import proposals as handlers
from crm_proposals.schemas import (
    HistoryEntryOut,
    LineIn,
    LossIn,
    Page,
    ParticipantIn,
    ProposalCreate,
    ProposalEdit,
    ProposalOut,
    ProposalRevise,
    RevisionOut,
    StatusChangeIn,
)
from crm_proposals.schemas.common import MoneyOut
from crm_proposals.schemas.proposals import BackOfficeFactOut, BackOfficeOut

router = APIRouter(tags=["proposals"])
WRITE_ERRORS = problem_responses(404, 409, 412, 422, 428)


def _line(line: LineIn) -> RequestLine:
    discount = None
    if line.discount is not None:
        d = line.discount
        discount = Discount(
            kind=d.kind,
            basis_points=d.basis_points if d.kind is DiscountKind.PERCENT else None,
            amount_minor=d.amount.amount_minor
            if d.amount and d.kind is DiscountKind.AMOUNT
            else None,
        )
    return RequestLine(
        item_code=line.item_code,
        quantity=line.quantity,
        unit_price_minor=line.unit_price.amount_minor if line.unit_price else None,
        unit_price_currency=line.unit_price.currency if line.unit_price else None,
        discount=discount,
        discount_currency=line.discount.amount.currency
        if line.discount and line.discount.amount
        else None,
    )


def _participant(p: ParticipantIn) -> Participant:
    return Participant(
        side=p.side,
        role=p.role,
        person_id=p.person_id,
        employee_id=p.employee_id,
        client_id=p.client_id,
    )


def view(runtime: Any, p: Proposal) -> ProposalOut:
    return views.proposal(
        p,
        needs_approval=handlers.requires_approval(runtime, p),
        approval_pending=handlers.approval_pending(runtime, p),
    )


def respond(runtime: Any, p: Proposal, response: Response) -> ProposalOut:
    set_etag(response, p.version)
    return view(runtime, p)


@router.post(
    "/proposals",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(403, 409, 422),
    summary="Register a proposal to a client (a draft, revision 1; publishes ProposalRegistered)",
)
async def register(
    body: ProposalCreate, runtime: RuntimeDep, caller: Writer, response: Response
) -> ProposalOut:
    command = RegisterProposal(
        client_id=body.client_id,
        curator_id=body.curator_id,
        title=body.title,
        preferences=body.preferences,
        currency=body.currency,
        valid_until=body.valid_until,
        lines=tuple(_line(li) for li in body.lines),
        participants=tuple(_participant(p) for p in body.participants),
    )
    proposal = await handlers.register(runtime, command, caller_of(caller))
    response.headers["Location"] = f"/proposals/{proposal.proposal_id}"
    return respond(runtime, proposal, response)


@router.get(
    "/proposals", summary="Proposals, filtered by client, status, curator or the skipped-step flag"
)
async def list_proposals(
    runtime: RuntimeDep,
    _: Reader,
    cursor: PageCursor,
    client_id: IdQuery = None,
    status: ProposalStatus | None = None,
    curator_id: IdQuery = None,
    flagged: Annotated[
        bool | None,
        Query(
            description="Only proposals whose plan skipped a step the mined model holds "
            "decisive (true), or only those without (false)."
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[ProposalOut]:
    found, nxt = await handlers.list_proposals(
        runtime,
        client_id=client_id,
        status=status,
        curator_id=curator_id,
        cursor=cursor.position,
        limit=limit,
        flagged=flagged,
    )
    return Page(items=[view(runtime, p) for p in found], next_cursor=cursor.next(nxt))


@router.get("/proposals/{proposal_id}", responses=problem_responses(404), summary="One proposal")
async def get_proposal(
    proposal_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> ProposalOut:
    return respond(runtime, await handlers.get(runtime, proposal_id), response)


@router.patch(
    "/proposals/{proposal_id}",
    responses=WRITE_ERRORS,
    summary="Edit a draft in place: title, preferences, lines, validity, participants "
    "(totals recomputed; publishes ProposalDraftEdited). Once presented, revise instead.",
)
async def edit_draft(
    proposal_id: IdPath,
    body: ProposalEdit,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ProposalOut:
    command = EditDraft(
        proposal_id=proposal_id,
        expected_version=expected_version(if_match),
        changed=frozenset(body.model_fields_set),
        title=body.title,
        preferences=body.preferences,
        valid_until=body.valid_until,
        lines=tuple(_line(li) for li in body.lines) if body.lines is not None else None,
        participants=tuple(_participant(p) for p in body.participants)
        if body.participants is not None
        else None,
    )
    return respond(runtime, await handlers.edit_draft(runtime, command), response)


@router.post(
    "/proposals/{proposal_id}/revisions",
    status_code=status.HTTP_201_CREATED,
    responses=WRITE_ERRORS,
    summary="Revise a presented proposal: a new revision (publishes ProposalRevised)",
)
async def revise(
    proposal_id: IdPath,
    body: ProposalRevise,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ProposalOut:
    command = ReviseProposal(
        proposal_id=proposal_id,
        expected_version=expected_version(if_match),
        lines=tuple(_line(li) for li in body.lines),
        title=body.title,
        preferences=body.preferences,
        valid_until=body.valid_until,
        participants=tuple(_participant(p) for p in body.participants)
        if body.participants is not None
        else None,
        reason=body.reason,
    )
    revised = await handlers.revise(runtime, command)
    response.headers["Location"] = f"/proposals/{proposal_id}/revisions/{revised.current.number}"
    return respond(runtime, revised, response)


@router.get(
    "/proposals/{proposal_id}/back-office",
    responses=problem_responses(404),
    summary="What the back office said about a won proposal: contract, orders, payments",
    description="Made from the back office's facts on `crm.backoffice.v1` (docs/integration.md). "
    "Any existing proposal answers; one not won has no facts.",
)
async def back_office_of(proposal_id: IdPath, runtime: RuntimeDep, _: Reader) -> BackOfficeOut:
    standing = await handlers.back_office_of(runtime, proposal_id)
    return BackOfficeOut(
        proposal_id=proposal_id,
        stage=standing.stage,
        paid=[MoneyOut(amount_minor=v, currency=c) for c, v in standing.paid.items()],
        facts=[
            BackOfficeFactOut(
                event_type=f["event_type"],
                system=f["system"],
                document_number=f["document_number"],
                at=f["at"],
                amount=MoneyOut(**f["amount"]) if f["amount"] else None,
                reason=f["reason"],
            )
            for f in standing.facts
        ],
    )


@router.get(
    "/proposals/{proposal_id}/revisions",
    responses=problem_responses(404),
    summary="Every revision of a proposal, oldest first",
)
async def revisions(proposal_id: IdPath, runtime: RuntimeDep, _: Reader) -> list[RevisionOut]:
    proposal = await handlers.get(runtime, proposal_id)
    return [views.revision(r) for r in proposal.revisions]


@router.get(
    "/proposals/{proposal_id}/revisions/{number}",
    responses=problem_responses(404),
    summary="One revision of a proposal",
)
async def revision(
    proposal_id: IdPath,
    number: Annotated[int, Path(ge=1, le=2**31 - 1)],
    runtime: RuntimeDep,
    _: Reader,
) -> RevisionOut:
    proposal = await handlers.get(runtime, proposal_id)
    for r in proposal.revisions:
        if r.number == number:
            return views.revision(r)
    raise NotFound(f"proposal {proposal_id} has no revision {number}")


@router.post(
    "/proposals/{proposal_id}/status",
    responses=WRITE_ERRORS,
    summary="Present, negotiate or withdraw (publishes ProposalStatusChanged)",
)
async def change_status(
    proposal_id: IdPath,
    body: StatusChangeIn,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ProposalOut:
    command = ChangeStatus(proposal_id, expected_version(if_match), body.status, body.reason)
    return respond(runtime, await handlers.change_status(runtime, command), response)


@router.post(
    "/proposals/{proposal_id}/win",
    responses=WRITE_ERRORS,
    summary="The client accepted: hand over to the back office (publishes ProposalWon)",
)
async def win(
    proposal_id: IdPath,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ProposalOut:
    command = ChangeStatus(proposal_id, expected_version(if_match), ProposalStatus.WON)
    return respond(runtime, await handlers.change_status(runtime, command), response)


@router.post(
    "/proposals/{proposal_id}/loss",
    responses=WRITE_ERRORS,
    summary="The client turned it down (publishes ProposalLost with the reason)",
)
async def lose(
    proposal_id: IdPath,
    body: LossIn,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
    if_match: IfMatch = None,
) -> ProposalOut:
    command = ChangeStatus(
        proposal_id, expected_version(if_match), ProposalStatus.LOST, body.reason, body.competitor
    )
    return respond(runtime, await handlers.change_status(runtime, command), response)


@router.get(
    "/proposals/{proposal_id}/history",
    responses=problem_responses(404),
    summary="Registration, revisions, status changes and contact records linked to it",
)
async def history(proposal_id: IdPath, runtime: RuntimeDep, _: Reader) -> list[HistoryEntryOut]:
    return [HistoryEntryOut(**e) for e in await handlers.history(runtime, proposal_id)]
