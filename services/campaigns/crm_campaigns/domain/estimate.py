"""The cost estimate of an event: planned against actual, and against the budget."""

from __future__ import annotations

from dataclasses import dataclass

from crm_campaigns.domain.errors import InvalidAmount
from crm_campaigns.domain.money import Money

MAX_LINE_MINOR = 10**15
"""The largest amount one line may come to: 500 such lines still sum far below the store's
64-bit integers."""


@dataclass(frozen=True)
class EstimateLine:
    line_id: str
    category: str
    description: str
    quantity: int
    planned_unit: Money
    actual_unit: Money | None = None

    def __post_init__(self) -> None:
        if self.quantity < 0:
            raise InvalidAmount("quantity must not be negative", field="quantity")
        if self.planned_unit.amount_minor < 0:
            raise InvalidAmount("the planned unit cost must not be negative", field="planned_unit")
        if self.actual_unit is not None and self.actual_unit.amount_minor < 0:
            raise InvalidAmount("the actual unit cost must not be negative", field="actual_unit")
        if self.actual_unit is not None and self.actual_unit.currency != self.planned_unit.currency:
            raise InvalidAmount("planned and actual costs differ in currency", field="actual_unit")
        unit = max(
            self.planned_unit.amount_minor, (self.actual_unit or self.planned_unit).amount_minor
        )
        if unit * self.quantity > MAX_LINE_MINOR:
            raise InvalidAmount(
                f"a line may come to at most {MAX_LINE_MINOR} minor units", field="quantity"
            )

    @property
    def planned(self) -> Money:
        return self.planned_unit.times(self.quantity)

    @property
    def actual(self) -> Money | None:
        return self.actual_unit.times(self.quantity) if self.actual_unit is not None else None


@dataclass(frozen=True)
class EstimateTotals:
    currency: str
    planned: Money
    actual: Money
    budget: Money | None
    planned_variance: Money | None
    """Budget minus planned total; negative means the plan is over budget."""
    actual_variance: Money | None
    """Budget minus actual total; negative means the spending is over budget."""
    over_budget: bool


def totals(lines: tuple[EstimateLine, ...], budget: Money | None, currency: str) -> EstimateTotals:
    for index, line in enumerate(lines):
        if line.planned_unit.currency != currency:
            raise InvalidAmount(
                f"line {line.line_id} is in {line.planned_unit.currency}, "
                f"the estimate in {currency}",
                field=f"lines[{index}].planned_unit.currency",
            )
    planned = sum((line.planned for line in lines), Money.zero(currency))
    actual = sum((line.actual for line in lines if line.actual is not None), Money.zero(currency))
    if budget is not None and budget.currency != currency:
        raise InvalidAmount(f"the budget is in {budget.currency}, the estimate in {currency}")
    planned_variance = budget - planned if budget is not None else None
    actual_variance = budget - actual if budget is not None else None
    over = budget is not None and (
        planned.amount_minor > budget.amount_minor or actual.amount_minor > budget.amount_minor
    )
    return EstimateTotals(
        currency, planned, actual, budget, planned_variance, actual_variance, over
    )
