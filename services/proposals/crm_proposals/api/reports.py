"""Operational analysis of the pipeline."""

from __future__ import annotations

from crm_kit.fields import QueryDateTime
from crm_kit.http import IdQuery
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query

from crm_proposals.api import views
from crm_proposals.api.common import Reader
from crm_proposals.handlers import reports as handlers
from crm_proposals.schemas import PipelineOut

router = APIRouter(tags=["reports"])


@router.get(
    "/reports/pipeline",
    summary="Proposals registered in a period by status and curator: counts, sums per "
    "currency, overdue steps, and conversion from registered to won",
)
async def pipeline(
    runtime: RuntimeDep,
    _: Reader,
    registered_from: QueryDateTime | None = Query(default=None, alias="from"),
    registered_to: QueryDateTime | None = Query(default=None, alias="to"),
    curator_id: IdQuery = None,
) -> PipelineOut:
    report = await handlers.pipeline_report(
        runtime,
        registered_from=registered_from,
        registered_to=registered_to,
        curator_id=curator_id,
    )
    return views.pipeline(report)
