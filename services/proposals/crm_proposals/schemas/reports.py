"""HTTP shapes: reports."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crm_proposals.schemas.common import MoneyBody


class BucketOut(BaseModel):
    count: int
    overdue_steps: int
    totals: list[MoneyBody]


class PipelineOut(BaseModel):
    registered: int
    won: int
    conversion_bp: int = Field(description="Won of registered, in basis points.")
    by_status: dict[str, BucketOut]
    by_curator: dict[str, BucketOut]
