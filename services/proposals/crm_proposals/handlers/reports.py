"""Operational analysis: the pipeline report."""

from __future__ import annotations

from datetime import date, datetime

from crm_contracts.values import ProposalStatus
from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime

from crm_proposals.domain.progress import Pipeline, PipelineRow, pipeline, plan_progress
from crm_proposals.repository.proposals import ProposalRepository

OPEN = frozenset({ProposalStatus.DRAFT, ProposalStatus.PRESENTED, ProposalStatus.NEGOTIATION})


async def pipeline_report(
    runtime: Runtime,
    *,
    registered_from: datetime | None,
    registered_to: datetime | None,
    curator_id: str | None,
    today: date | None = None,
) -> Pipeline:
    day = today or utc_now().date()
    rows = [
        PipelineRow(
            status=p.status,
            curator_id=p.curator_id,
            currency=p.current.currency,
            total_minor=p.current.totals.total_minor,
            overdue_steps=len(plan_progress(p.plan, day).overdue)
            if p.plan and p.status in OPEN
            else 0,
            registered_on=p.registered_at.date(),
        )
        async for p in ProposalRepository(runtime).scan(
            registered_from=registered_from, registered_to=registered_to, curator_id=curator_id
        )
    ]
    return pipeline(rows)
