"""HTTP shapes: plans."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from crm_contracts.values import (
    Department,
    PlanOrigin,
)
from crm_kit.fields import DomainDate, Id
from pydantic import BaseModel, Field

from crm_proposals.schemas.common import In


class StepIn(In):
    key: str = Field(min_length=1, max_length=60, description="Names the step within this request.")
    title: str = Field(min_length=1, max_length=300)
    department: Department | None = None
    role: str | None = Field(default=None, max_length=60)
    assignee_id: Id | None = None
    due_on: DomainDate | None = None
    depends_on: list[Annotated[str, Field(max_length=60)]] = Field(
        default_factory=list, max_length=200, description="Keys of other steps."
    )
    required: bool = True
    approval: bool = False


class PlanCreate(In):
    sales_model_id: Id | None = Field(
        default=None, description="Generate from this model's published version..."
    )
    steps: list[StepIn] | None = Field(
        default=None, max_length=200, description="...or enter the steps by hand."
    )
    starts_on: DomainDate | None = Field(
        default=None, description="Due dates count from here; today."
    )
    assignees: dict[Annotated[str, Field(max_length=60)], Id] = Field(
        default_factory=dict, max_length=200, description="Model step id → employee id."
    )


class StepAdd(In):
    title: str = Field(min_length=1, max_length=300)
    department: Department | None = None
    role: str | None = Field(default=None, max_length=60)
    assignee_id: Id | None = None
    due_on: DomainDate | None = None
    depends_on: list[Id] = Field(
        default_factory=list, max_length=200, description="Step ids of this plan."
    )
    required: bool = True
    approval: bool = False


class AssignIn(In):
    assignee_id: Id
    due_on: DomainDate | None = None


class BlockIn(In):
    reason: str = Field(min_length=1, max_length=2000)


class StepOut(BaseModel):
    id: str
    proposal_id: str
    title: str
    department: Department | None
    role: str | None
    assignee_id: str | None
    due_on: date | None
    depends_on: list[str]
    required: bool
    approval: bool
    model_step_id: str | None
    state: str
    started_at: datetime | None
    completed_at: datetime | None
    completed_by: str | None
    blocked_reason: str | None


class AssignedStepOut(StepOut):
    proposal_title: str = Field(description="The proposal's current title.")
    client_id: str
    overdue: bool = Field(description="Unfinished past its due date.")


class AssignedStepList(BaseModel):
    items: list[AssignedStepOut] = Field(
        description="Overdue first (oldest due first), then by due date, undated last."
    )
    truncated: bool = Field(
        description="The person holds steps on more open proposals than one list gathers "
        "(the 200 most recently registered are read)."
    )


class ProgressOut(BaseModel):
    total: int
    done: int
    skipped: int
    overdue: list[str]
    next_steps: list[str]
    expected_finish: date | None
    critical_path: list[str]


class PlanOut(BaseModel):
    plan_id: str
    proposal_id: str
    origin: PlanOrigin
    sales_model_id: str | None
    sales_model_version: int | None
    generated_at: datetime
    starts_on: date
    steps: list[StepOut]
    progress: ProgressOut
    flagged_steps: list[str] = Field(
        description="Skipped steps the latest mined model holds decisive (their keys: the "
        "model step id, else the title in lower case)."
    )
