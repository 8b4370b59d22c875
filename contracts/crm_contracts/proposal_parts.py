"""Value objects nested in the proposals service's events."""

from __future__ import annotations

from datetime import date

from pydantic import Field, model_validator

from crm_contracts.base import ContractModel
from crm_contracts.money import Money
from crm_contracts.values import CurrencyCode, Department, DiscountKind, Id, ProposalSide


class LineDiscount(ContractModel):
    """The discount on a line as the seller expressed it."""

    kind: DiscountKind
    basis_points: int | None = Field(default=None, ge=0, le=10_000)
    """For kind ``percent``: hundredths of a percent, 1250 = 12.5 %."""
    amount: Money | None = None
    """For kind ``amount``: the discount on the whole line."""


class ProposalLine(ContractModel):
    """One line of a proposal, with prices already computed by the proposals service."""

    line_no: int = Field(ge=1)
    item_code: str
    """The catalogue item code."""
    name: str
    quantity: int = Field(gt=0)
    """Whole units of ``unit``."""
    unit: str
    """Unit of measure, e.g. ``pcs``, ``hour``, ``licence``."""
    unit_price: Money
    discount: LineDiscount | None = None
    discount_amount: Money
    """The discount on the whole line after rounding."""
    line_total: Money
    """``quantity * unit_price - discount_amount``."""


class ProposalTotals(ContractModel):
    """A proposal's totals: ``total = subtotal - discount``."""

    subtotal: Money
    discount: Money
    total: Money


class PricedLines(ContractModel):
    """Lines, totals and the single currency every amount in them is in."""

    currency: CurrencyCode
    lines: tuple[ProposalLine, ...]
    totals: ProposalTotals

    @model_validator(mode="after")
    def _one_currency(self) -> PricedLines:
        amounts = [self.totals.subtotal, self.totals.discount, self.totals.total]
        for line in self.lines:
            amounts += [line.unit_price, line.discount_amount, line.line_total]
        if any(amount.currency != self.currency for amount in amounts):
            raise ValueError(f"every amount must be in {self.currency}")
        return self


class ProposalParticipant(ContractModel):
    """Someone taking part in a proposal, on the client's, the company's or a partner's side."""

    side: ProposalSide
    role: str
    """``decision_maker``, ``influencer``, ``user``, ``account_manager``..."""
    person_id: Id | None = None
    """A client's or partner's person."""
    employee_id: Id | None = None
    client_id: Id | None = None
    """The partner's client id on the partner side."""


class PlanStep(ContractModel):
    """One step of an action plan as generated or entered."""

    step_id: Id
    title: str
    department: Department | None = None
    role: str | None = None
    assignee_id: Id | None = None
    due_on: date | None = None
    depends_on: tuple[Id, ...] = ()
    """Step ids that must be done first."""
    required: bool = True
    approval: bool = False
    model_step_id: Id | None = None
    """The sales model step this one was generated from."""


class SalesModelStep(ContractModel):
    """One step of a sales model."""

    step_id: Id
    title: str
    department: Department | None = None
    role: str | None = None
    offset_days: int = Field(ge=0)
    """Days from the plan's start to the step's due date."""
    depends_on: tuple[Id, ...] = ()
    required: bool = True
    approval: bool = False


class ClientContact(ContractModel):
    """The person on the client's side whom the back office contacts about the contract.

    The proposal's client-side participant (a decision maker first), or else the client's
    first person on record. Addresses are normalised as in contacts' ``ChannelAddresses``.
    """

    person_id: Id
    name: str
    position: str | None = None
    role: str | None = None
    """The person's role in the proposal (``decision_maker``...); ``None`` when the person is
    not a participant of it but the client's first person on record."""
    email: str | None = None
    """Lower-cased e-mail address."""
    phone: str | None = None
    """Phone number in E.164."""
    mobile: str | None = None
    """Mobile number in E.164."""
