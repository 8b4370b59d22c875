"""HTTP shapes: sales models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from crm_contracts.values import (
    Department,
    SalesModelOrigin,
)
from crm_kit.fields import Version
from pydantic import BaseModel, Field

from crm_proposals.schemas.common import In


class ModelStepIn(In):
    step_id: str = Field(min_length=1, max_length=60)
    title: str = Field(min_length=1, max_length=300)
    department: Department | None = None
    role: str | None = Field(default=None, max_length=60)
    offset_days: int = Field(
        ge=-3650, le=3650, description="Days from the plan's start to the due date."
    )
    depends_on: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=200
    )
    required: bool = True
    approval: bool = False


class SalesModelCreate(In):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    steps: list[ModelStepIn] = Field(max_length=200)


class SalesModelVersionIn(In):
    steps: list[ModelStepIn] = Field(max_length=200)


class PublishIn(In):
    version: Version | None = Field(default=None, description="Defaults to the latest version.")


class ModelStepOut(BaseModel):
    step_id: str
    title: str
    department: Department | None
    role: str | None
    offset_days: int
    depends_on: list[str]
    required: bool
    approval: bool


class ModelVersionOut(BaseModel):
    version: int
    steps: list[ModelStepOut]
    created_at: datetime
    published_at: datetime | None


class SalesModelOut(BaseModel):
    id: str
    name: str
    description: str | None
    origin: SalesModelOrigin
    published_version: int | None
    deals_count: int | None
    versions: list[ModelVersionOut]
    version: int


class MinedStepOut(BaseModel):
    step_id: str
    title: str
    department: Department | None
    role: str | None
    approval: bool
    offset_days: int
    median_duration_hours: int | None
    depends_on: list[str]
    won_deals: int
    lost_deals: int
    won_share_bp: int
    lost_share_bp: int
    decisive: bool


class FlaggedPlanOut(BaseModel):
    proposal_id: str
    skipped_decisive_steps: list[str]


class MinedModelOut(BaseModel):
    won_deals: int
    lost_deals: int
    steps: list[MinedStepOut]
    flagged_plans: list[FlaggedPlanOut] = Field(
        description="Open proposals whose plan skipped a step the mined model holds decisive."
    )


class MinedPublishIn(In):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
