"""HTTP shapes: proposals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from crm_contracts.values import (
    DiscountKind,
    ProposalSide,
    ProposalStatus,
)
from crm_kit.fields import Code, Currency, DomainDate, Id
from pydantic import BaseModel, Field

from crm_proposals.domain.back_office import BackOfficeStage
from crm_proposals.schemas.common import In, MoneyBody, MoneyOut, Quantity


class DiscountIn(In):
    kind: DiscountKind
    basis_points: int | None = Field(
        default=None,
        ge=-1_000_000,
        le=1_000_000,
        description="For `percent`: hundredths of a percent, 1250 = 12.5 %.",
    )
    amount: MoneyBody | None = Field(default=None, description="For `amount`: off the whole line.")


class DiscountOut(BaseModel):
    kind: DiscountKind
    basis_points: int | None = None
    amount: MoneyOut | None = None


class LineIn(In):
    item_code: Code
    quantity: Quantity
    unit_price: MoneyBody | None = Field(
        default=None, description="Defaults to the catalogue item's list price."
    )
    discount: DiscountIn | None = None


class ParticipantIn(In):
    side: ProposalSide
    role: str = Field(min_length=1, max_length=60, examples=["decision_maker", "influencer"])
    person_id: Id | None = None
    employee_id: Id | None = None
    client_id: Id | None = Field(default=None, description="The partner, on the partner side.")


class ProposalCreate(In):
    client_id: Id
    curator_id: Id | None = Field(
        default=None,
        description="Defaults to the client's curator; another employee needs proposals:admin.",
    )
    title: str = Field(min_length=1, max_length=300)
    preferences: str | None = Field(default=None, max_length=5000)
    currency: Currency | None = None
    valid_until: DomainDate | None = None
    lines: list[LineIn] = Field(max_length=500)
    participants: list[ParticipantIn] = Field(default_factory=list, max_length=100)


class ProposalRevise(In):
    lines: list[LineIn] = Field(max_length=500)
    title: str | None = Field(default=None, min_length=1, max_length=300)
    preferences: str | None = Field(default=None, max_length=5000)
    valid_until: DomainDate | None = None
    participants: list[ParticipantIn] | None = Field(default=None, max_length=100)
    reason: str | None = Field(default=None, max_length=2000)


class ProposalEdit(In):
    """A draft's changes: only the fields given are changed (null clears preferences or the
    validity date); totals are recomputed."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    preferences: str | None = Field(default=None, max_length=5000)
    valid_until: DomainDate | None = None
    lines: list[LineIn] | None = Field(default=None, max_length=500)
    participants: list[ParticipantIn] | None = Field(default=None, max_length=100)


class StatusChangeIn(In):
    status: Literal[ProposalStatus.PRESENTED, ProposalStatus.NEGOTIATION, ProposalStatus.WITHDRAWN]
    reason: str | None = Field(default=None, max_length=2000)


class LossIn(In):
    reason: str = Field(min_length=1, max_length=2000)
    competitor: str | None = Field(default=None, max_length=200)


class LineOut(BaseModel):
    line_no: int
    item_code: str
    name: str
    unit: str
    quantity: int
    unit_price: MoneyOut
    discount: DiscountOut | None
    gross: MoneyOut
    discount_amount: MoneyOut
    line_total: MoneyOut


class TotalsOut(BaseModel):
    subtotal: MoneyOut
    discount: MoneyOut
    total: MoneyOut


class ParticipantOut(BaseModel):
    side: ProposalSide
    role: str
    person_id: str | None
    employee_id: str | None
    client_id: str | None


class RevisionOut(BaseModel):
    revision: int
    title: str
    preferences: str | None
    valid_until: date | None
    currency: str
    lines: list[LineOut]
    totals: TotalsOut
    participants: list[ParticipantOut]
    created_at: datetime
    reason: str | None
    edited_at: datetime | None = Field(
        default=None, description="When a draft's revision was last edited in place."
    )


class ProposalOut(BaseModel):
    id: str
    client_id: str
    curator_id: str
    status: ProposalStatus
    registered_at: datetime
    revision: RevisionOut = Field(description="The current (latest) revision.")
    needs_approval: bool = Field(
        description="A line's discount is over the threshold: a done approval step is needed "
        "before presenting."
    )
    approval_pending: bool = Field(
        description="A line's discount is over the threshold and no done approval step covers "
        "the current revision's terms: it cannot be presented or won until one does."
    )
    has_plan: bool
    flagged_steps: list[str] = Field(
        description="Steps the plan skipped although the mined model holds them decisive."
    )
    outcome_reason: str | None
    competitor: str | None
    closed_at: datetime | None
    version: int


class HistoryEntryOut(BaseModel):
    at: datetime
    kind: Literal["registered", "edited", "status_changed", "revised", "contact", "client_merged"]
    summary: str
    status: ProposalStatus | None = None
    revision: int | None = None
    contact_id: str | None = None
    employee_id: str | None = None
    need_item_codes: list[str] = Field(default_factory=list)


class BackOfficeFactOut(BaseModel):
    event_type: Literal["ContractSigned", "OrderPlaced", "PaymentReceived", "DealRefused"]
    system: str = Field(description="The back-office system that said it.")
    document_number: str = Field(description="Its contract, order or payment number.")
    at: datetime = Field(description="When it happened (signed, placed, paid, refused).")
    amount: MoneyOut | None = Field(description="The contract's amount or the payment's.")
    reason: str | None = Field(description="Why the deal was refused.")


class BackOfficeOut(BaseModel):
    proposal_id: str
    stage: BackOfficeStage | None = Field(
        description="Where the won deal is, by the latest fact: null before the back office "
        "has said anything."
    )
    paid: list[MoneyOut] = Field(description="The payments booked so far, summed per currency.")
    facts: list[BackOfficeFactOut] = Field(
        description="What the back office said (crm.backoffice.v1), in the order it happened."
    )
