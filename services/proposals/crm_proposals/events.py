"""The one place domain state becomes ``crm_contracts`` events."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.money import Money
from crm_contracts.proposal_parts import (
    ClientContact,
    LineDiscount,
    PlanStep,
    ProposalLine,
    ProposalParticipant,
    ProposalTotals,
    SalesModelStep,
)
from crm_contracts.proposals import (
    CatalogItemChanged,
    PlanGenerated,
    PlanStepAssigned,
    PlanStepCompleted,
    ProposalDraftEdited,
    ProposalLost,
    ProposalRegistered,
    ProposalRevised,
    ProposalStatusChanged,
    ProposalWon,
    SalesModelPublished,
)
from crm_contracts.values import DiscountKind, ProposalSide, StepOutcome

from crm_proposals.domain.catalogue import CatalogItem
from crm_proposals.domain.plan import Plan, Step, StepState
from crm_proposals.domain.pricing import PricedLine, Totals
from crm_proposals.domain.proposal import Proposal, Revision, StatusChange
from crm_proposals.domain.sales_model import ModelVersion, SalesModel
from crm_proposals.projections import KnownClient, KnownPerson


def _money(amount: int, currency: str) -> Money:
    return Money(amount_minor=amount, currency=currency)


def catalog_item_changed(item: CatalogItem, version: int) -> CatalogItemChanged:
    return CatalogItemChanged(
        code=item.code,
        name=item.name,
        kind=item.kind,
        unit=item.unit,
        list_price=_money(item.list_price_minor, item.currency),
        active=item.active,
        changed_at=item.changed_at,
        version=version,
    )


def _line(line: PricedLine, currency: str) -> ProposalLine:
    discount = None
    if line.discount is not None:
        discount = LineDiscount(
            kind=line.discount.kind,
            basis_points=line.discount.basis_points
            if line.discount.kind is DiscountKind.PERCENT
            else None,
            amount=_money(line.discount.amount_minor, currency)
            if line.discount.kind is DiscountKind.AMOUNT and line.discount.amount_minor is not None
            else None,
        )
    return ProposalLine(
        line_no=line.line_no,
        item_code=line.item_code,
        name=line.name,
        quantity=line.quantity,
        unit=line.unit,
        unit_price=_money(line.unit_price_minor, currency),
        discount=discount,
        discount_amount=_money(line.discount_minor, currency),
        line_total=_money(line.total_minor, currency),
    )


def _totals(totals: Totals, currency: str) -> ProposalTotals:
    return ProposalTotals(
        subtotal=_money(totals.subtotal_minor, currency),
        discount=_money(totals.discount_minor, currency),
        total=_money(totals.total_minor, currency),
    )


def _lines(revision: Revision) -> tuple[ProposalLine, ...]:
    return tuple(_line(li, revision.currency) for li in revision.lines)


def _participants(r: Revision) -> tuple[ProposalParticipant, ...]:
    return tuple(
        ProposalParticipant(
            side=x.side,
            role=x.role,
            person_id=x.person_id,
            employee_id=x.employee_id,
            client_id=x.client_id,
        )
        for x in r.participants
    )


def proposal_registered(p: Proposal) -> ProposalRegistered:
    r = p.revisions[0]
    return ProposalRegistered(
        proposal_id=p.proposal_id,
        revision=r.number,
        client_id=p.client_id,
        curator_id=p.curator_id,
        title=r.title,
        preferences=r.preferences,
        status=p.status,
        valid_until=r.valid_until,
        participants=_participants(r),
        registered_at=p.registered_at,
        currency=r.currency,
        lines=_lines(r),
        totals=_totals(r.totals, r.currency),
    )


def draft_edited(p: Proposal, r: Revision, changed: tuple[str, ...]) -> ProposalDraftEdited:
    assert r.edited_at is not None
    return ProposalDraftEdited(
        proposal_id=p.proposal_id,
        revision=r.number,
        client_id=p.client_id,
        curator_id=p.curator_id,
        title=r.title,
        preferences=r.preferences,
        valid_until=r.valid_until,
        participants=_participants(r),
        changed_fields=changed,
        edited_at=r.edited_at,
        currency=r.currency,
        lines=_lines(r),
        totals=_totals(r.totals, r.currency),
    )


def proposal_revised(p: Proposal, r: Revision) -> ProposalRevised:
    return ProposalRevised(
        proposal_id=p.proposal_id,
        revision=r.number,
        client_id=p.client_id,
        title=r.title,
        preferences=r.preferences,
        valid_until=r.valid_until,
        reason=r.reason,
        revised_at=r.created_at,
        currency=r.currency,
        lines=_lines(r),
        totals=_totals(r.totals, r.currency),
    )


# A status move is saved as one write on top of the version the caller named, so the facts
# it causes carry the version the proposal has after it: the loaded one plus one.
def status_changed(p: Proposal, change: StatusChange) -> ProposalStatusChanged:
    return ProposalStatusChanged(
        proposal_id=p.proposal_id,
        client_id=p.client_id,
        from_status=change.from_status,
        to_status=change.to_status,
        changed_at=change.at,
        version=p.version + 1,
    )


def contact_candidates(p: Proposal) -> tuple[str, ...]:
    """The client-side participants' person ids, decision makers first."""
    people = [x for x in p.current.participants if x.side is ProposalSide.CLIENT and x.person_id]
    people.sort(key=lambda x: x.role != "decision_maker")  # stable: otherwise as entered
    return tuple(dict.fromkeys(x.person_id for x in people if x.person_id))


def _client_contact(p: Proposal, person: KnownPerson | None) -> ClientContact | None:
    if person is None:
        return None
    role = next(
        (
            x.role
            for x in p.current.participants
            if x.side is ProposalSide.CLIENT and x.person_id == person.person_id
        ),
        None,
    )
    return ClientContact(
        person_id=person.person_id,
        name=person.name,
        position=person.position,
        role=role,
        email=person.email,
        phone=person.phone,
        mobile=person.mobile,
    )


def proposal_won(
    p: Proposal, client: KnownClient | None, contact: KnownPerson | None, at: datetime
) -> ProposalWon:
    """The hand-over: the accepted revision, and the client as proposals' copy of contacts'
    facts describes it now (``None`` where contacts has not told proposals yet)."""
    r = p.current
    return ProposalWon(
        proposal_id=p.proposal_id,
        revision=r.number,
        version=p.version + 1,
        client_id=p.client_id,
        client_name=client.name if client else None,
        client_kind=client.kind if client else None,
        client_tax_id=client.tax_id if client else None,
        client_country=client.country if client else None,
        client_legal_address=client.legal_address if client else None,
        client_contact=_client_contact(p, contact),
        curator_id=p.curator_id,
        title=r.title,
        valid_until=r.valid_until,
        won_at=at,
        currency=r.currency,
        lines=_lines(r),
        totals=_totals(r.totals, r.currency),
    )


def proposal_lost(p: Proposal, reason: str, competitor: str | None, at: datetime) -> ProposalLost:
    return ProposalLost(
        proposal_id=p.proposal_id,
        revision=p.current.number,
        version=p.version + 1,
        client_id=p.client_id,
        curator_id=p.curator_id,
        reason=reason,
        competitor=competitor,
        lost_at=at,
    )


def plan_generated(p: Proposal, plan: Plan) -> PlanGenerated:
    return PlanGenerated(
        proposal_id=p.proposal_id,
        plan_id=plan.plan_id,
        client_id=p.client_id,
        origin=plan.origin,
        sales_model_id=plan.sales_model_id,
        sales_model_version=plan.sales_model_version,
        steps=tuple(
            PlanStep(
                step_id=s.step_id,
                title=s.title,
                department=s.department,
                role=s.role,
                assignee_id=s.assignee_id,
                due_on=s.due_on,
                depends_on=s.depends_on,
                required=s.required,
                approval=s.approval,
                model_step_id=s.model_step_id,
            )
            for s in plan.steps
        ),
        generated_at=plan.generated_at,
    )


def step_assigned(
    p: Proposal, plan: Plan, step: Step, previous: str | None, client_name: str | None, at: datetime
) -> PlanStepAssigned:
    assert step.assignee_id is not None
    return PlanStepAssigned(
        proposal_id=p.proposal_id,
        plan_id=plan.plan_id,
        step_id=step.step_id,
        title=step.title,
        proposal_title=p.current.title,
        client_id=p.client_id,
        client_name=client_name,
        assignee_id=step.assignee_id,
        previous_assignee_id=previous,
        due_on=step.due_on,
        approval=step.approval,
        assigned_at=at,
    )


def step_completed(p: Proposal, plan: Plan, step: Step) -> PlanStepCompleted:
    assert step.completed_at is not None
    return PlanStepCompleted(
        proposal_id=p.proposal_id,
        plan_id=plan.plan_id,
        step_id=step.step_id,
        title=step.title,
        model_step_id=step.model_step_id,
        outcome=StepOutcome.DONE if step.state is StepState.DONE else StepOutcome.SKIPPED,
        completed_by=step.completed_by,
        started_at=step.started_at,
        completed_at=step.completed_at,
    )


def model_published(m: SalesModel, v: ModelVersion, by: str | None) -> SalesModelPublished:
    assert v.published_at is not None
    return SalesModelPublished(
        model_id=m.model_id,
        version=v.version,
        name=m.name,
        description=m.description,
        origin=m.origin,
        deals_count=m.deals_count,
        steps=tuple(
            SalesModelStep(
                step_id=s.step_id,
                title=s.title,
                department=s.department,
                role=s.role,
                offset_days=s.offset_days,
                depends_on=s.depends_on,
                required=s.required,
                approval=s.approval,
            )
            for s in v.steps
        ),
        published_by=by,
        published_at=v.published_at,
    )
