"""Domain objects as HTTP responses."""

from __future__ import annotations

from datetime import date

from crm_contracts.values import DiscountKind

from crm_proposals.domain.catalogue import CatalogItem
from crm_proposals.domain.mining import MinedModel
from crm_proposals.domain.plan import Step
from crm_proposals.domain.pricing import PricedLine
from crm_proposals.domain.progress import Bucket, Pipeline, plan_progress
from crm_proposals.domain.proposal import Proposal, Revision
from crm_proposals.domain.sales_model import SalesModel
from crm_proposals.schemas import (
    BucketOut,
    CatalogItemOut,
    DiscountOut,
    FlaggedPlanOut,
    LineOut,
    MinedModelOut,
    MinedStepOut,
    ModelStepOut,
    ModelVersionOut,
    MoneyOut,
    ParticipantOut,
    PipelineOut,
    PlanOut,
    ProgressOut,
    ProposalOut,
    RevisionOut,
    SalesModelOut,
    StepOut,
    TotalsOut,
)


def money(amount: int, currency: str) -> MoneyOut:
    return MoneyOut(amount_minor=amount, currency=currency)


def catalog_item(item: CatalogItem) -> CatalogItemOut:
    return CatalogItemOut(
        code=item.code,
        name=item.name,
        kind=item.kind,
        unit=item.unit,
        list_price=money(item.list_price_minor, item.currency),
        active=item.active,
        changed_at=item.changed_at,
        version=item.version,
    )


def _line(line: PricedLine, currency: str) -> LineOut:
    discount = None
    if line.discount is not None:
        discount = DiscountOut(
            kind=line.discount.kind,
            basis_points=line.discount.basis_points,
            amount=money(line.discount.amount_minor, currency)
            if line.discount.kind is DiscountKind.AMOUNT and line.discount.amount_minor is not None
            else None,
        )
    return LineOut(
        line_no=line.line_no,
        item_code=line.item_code,
        name=line.name,
        unit=line.unit,
        quantity=line.quantity,
        unit_price=money(line.unit_price_minor, currency),
        discount=discount,
        gross=money(line.gross_minor, currency),
        discount_amount=money(line.discount_minor, currency),
        line_total=money(line.total_minor, currency),
    )


def revision(r: Revision) -> RevisionOut:
    c = r.currency
    return RevisionOut(
        revision=r.number,
        title=r.title,
        preferences=r.preferences,
        valid_until=r.valid_until,
        currency=c,
        lines=[_line(li, c) for li in r.lines],
        totals=TotalsOut(
            subtotal=money(r.totals.subtotal_minor, c),
            discount=money(r.totals.discount_minor, c),
            total=money(r.totals.total_minor, c),
        ),
        participants=[
            ParticipantOut(
                side=p.side,
                role=p.role,
                person_id=p.person_id,
                employee_id=p.employee_id,
                client_id=p.client_id,
            )
            for p in r.participants
        ],
        created_at=r.created_at,
        reason=r.reason,
        edited_at=r.edited_at,
    )


def proposal(p: Proposal, *, needs_approval: bool, approval_pending: bool) -> ProposalOut:
    return ProposalOut(
        id=p.proposal_id,
        client_id=p.client_id,
        curator_id=p.curator_id,
        status=p.status,
        registered_at=p.registered_at,
        revision=revision(p.current),
        needs_approval=needs_approval,
        approval_pending=approval_pending,
        has_plan=p.plan is not None,
        flagged_steps=list(p.flagged_steps),
        outcome_reason=p.outcome_reason,
        competitor=p.competitor,
        closed_at=p.closed_at,
        version=p.version,
    )


def step(proposal_id: str, s: Step) -> StepOut:
    return StepOut(
        id=s.step_id,
        proposal_id=proposal_id,
        title=s.title,
        department=s.department,
        role=s.role,
        assignee_id=s.assignee_id,
        due_on=s.due_on,
        depends_on=list(s.depends_on),
        required=s.required,
        approval=s.approval,
        model_step_id=s.model_step_id,
        state=s.state.value,
        started_at=s.started_at,
        completed_at=s.completed_at,
        completed_by=s.completed_by,
        blocked_reason=s.blocked_reason,
    )


def plan(proposal: Proposal, today: date) -> PlanOut:
    assert proposal.plan is not None
    proposal_id, p = proposal.proposal_id, proposal.plan
    progress = plan_progress(p, today)
    return PlanOut(
        plan_id=p.plan_id,
        proposal_id=proposal_id,
        origin=p.origin,
        sales_model_id=p.sales_model_id,
        sales_model_version=p.sales_model_version,
        generated_at=p.generated_at,
        starts_on=p.starts_on,
        steps=[step(proposal_id, s) for s in p.steps],
        progress=ProgressOut(
            total=progress.total,
            done=progress.done,
            skipped=progress.skipped,
            overdue=list(progress.overdue),
            next_steps=list(progress.next_steps),
            expected_finish=progress.expected_finish,
            critical_path=list(progress.critical_path),
        ),
        flagged_steps=list(proposal.flagged_steps),
    )


def sales_model(m: SalesModel) -> SalesModelOut:
    return SalesModelOut(
        id=m.model_id,
        name=m.name,
        description=m.description,
        origin=m.origin,
        published_version=m.published_version,
        deals_count=m.deals_count,
        versions=[
            ModelVersionOut(
                version=v.version,
                steps=[
                    ModelStepOut(
                        step_id=s.step_id,
                        title=s.title,
                        department=s.department,
                        role=s.role,
                        offset_days=s.offset_days,
                        depends_on=list(s.depends_on),
                        required=s.required,
                        approval=s.approval,
                    )
                    for s in v.steps
                ],
                created_at=v.created_at,
                published_at=v.published_at,
            )
            for v in m.versions
        ],
        version=m.version,
    )


def mined_model(m: MinedModel, flagged: list[tuple[str, list[str]]]) -> MinedModelOut:
    return MinedModelOut(
        won_deals=m.won_deals,
        lost_deals=m.lost_deals,
        steps=[
            MinedStepOut(
                step_id=s.step_id,
                title=s.title,
                department=s.department,
                role=s.role,
                approval=s.approval,
                offset_days=s.offset_days,
                median_duration_hours=s.median_duration_hours,
                depends_on=list(s.depends_on),
                won_deals=s.won_deals,
                lost_deals=s.lost_deals,
                won_share_bp=s.won_share_bp,
                lost_share_bp=s.lost_share_bp,
                decisive=s.decisive,
            )
            for s in m.steps
        ],
        flagged_plans=[FlaggedPlanOut(proposal_id=p, skipped_decisive_steps=k) for p, k in flagged],
    )


def _bucket(b: Bucket) -> BucketOut:
    return BucketOut(
        count=b.count,
        won=b.won,
        conversion_bp=b.conversion_bp,
        overdue_steps=b.overdue_steps,
        totals=[money(v, c) for c, v in sorted(b.totals_minor.items())],
    )


def pipeline(p: Pipeline) -> PipelineOut:
    return PipelineOut(
        registered=p.registered,
        won=p.won,
        conversion_bp=p.conversion_bp,
        by_status={k: _bucket(v) for k, v in sorted(p.by_status.items())},
        by_curator={k: _bucket(v) for k, v in sorted(p.by_curator.items())},
        by_month={k: _bucket(v) for k, v in sorted(p.by_month.items())},
    )
