"""HTTP shapes: reports."""

from __future__ import annotations

from pydantic import BaseModel, Field

from crm_proposals.schemas.common import MoneyOut


class BucketOut(BaseModel):
    count: int = Field(description="Proposals registered.")
    won: int = Field(description="Of them, won.")
    conversion_bp: int = Field(description="Won of registered, in basis points (rounded down).")
    overdue_steps: int = Field(description="Open steps past due, of open proposals.")
    totals: list[MoneyOut] = Field(description="Current revisions' totals, per currency.")


class PipelineOut(BaseModel):
    registered: int
    won: int
    conversion_bp: int = Field(description="Won of registered, in basis points.")
    by_status: dict[str, BucketOut]
    by_curator: dict[str, BucketOut]
    by_month: dict[str, BucketOut] = Field(
        description="By month of registration (YYYY-MM, UTC) within the period."
    )
