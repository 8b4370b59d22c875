"""Line prices, discounts and totals in integer minor units.

Rounding rule: a percentage discount is computed per line on the line's gross amount
(``quantity * unit_price``) and rounded half up to a whole minor unit; totals are plain sums
of the rounded line figures, so the lines always add up to the totals.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crm_contracts.values import DiscountKind
from crm_kit.refusals import Refusals

from crm_proposals.domain.errors import InvalidValue

FULL_PERCENT_BP = 10_000
"""100 % in basis points (hundredths of a percent)."""


def divide_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half up, for a non-negative numerator."""
    if numerator < 0 or denominator <= 0:
        raise ValueError("divide_half_up takes a non-negative numerator and a positive divisor")
    return (2 * numerator + denominator) // (2 * denominator)


@dataclass(frozen=True)
class Discount:
    kind: DiscountKind
    basis_points: int | None = None
    amount_minor: int | None = None


@dataclass(frozen=True)
class LineInput:
    """A line as asked for: the catalogue has already supplied name, unit and default price."""

    item_code: str
    name: str
    unit: str
    quantity: int
    unit_price_minor: int
    currency: str
    discount: Discount | None = None


@dataclass(frozen=True)
class PricedLine:
    line_no: int
    item_code: str
    name: str
    unit: str
    quantity: int
    unit_price_minor: int
    discount: Discount | None
    gross_minor: int
    discount_minor: int
    total_minor: int

    @property
    def discount_bp(self) -> int:
        """The line's effective discount rate in basis points (rounded down)."""
        return self.discount_minor * FULL_PERCENT_BP // self.gross_minor if self.gross_minor else 0


@dataclass(frozen=True)
class Totals:
    subtotal_minor: int
    discount_minor: int
    total_minor: int


MAX_LINE_MINOR = 10**15
"""The largest amount one line may come to: 500 such lines still sum far below the store's
64-bit integers."""


def price_line(line_no: int, line: LineInput, currency: str) -> PricedLine:
    where = f"body.lines[{line_no - 1}]"
    if line.quantity <= 0:
        raise InvalidValue(
            f"the quantity must be a positive whole number, not {line.quantity}",
            field=f"{where}.quantity",
        )
    if line.unit_price_minor < 0:
        raise InvalidValue("the unit price may not be negative", field=f"{where}.unit_price")
    if line.currency != currency:
        raise InvalidValue(
            f"every line must be in {currency}, not {line.currency}",
            field=f"{where}.unit_price.currency",
        )
    gross = line.quantity * line.unit_price_minor
    if gross > MAX_LINE_MINOR:
        raise InvalidValue(
            f"a line may come to at most {MAX_LINE_MINOR} minor units", field=f"{where}.quantity"
        )
    discount = _discount_amount(line.discount, gross, where)
    return PricedLine(
        line_no=line_no,
        item_code=line.item_code,
        name=line.name,
        unit=line.unit,
        quantity=line.quantity,
        unit_price_minor=line.unit_price_minor,
        discount=line.discount,
        gross_minor=gross,
        discount_minor=discount,
        total_minor=gross - discount,
    )


def _discount_amount(discount: Discount | None, gross: int, where: str) -> int:
    if discount is None:
        return 0
    if discount.kind is DiscountKind.PERCENT:
        bp = discount.basis_points
        if bp is None:
            raise InvalidValue(
                "a percent discount needs basis_points", field=f"{where}.discount.basis_points"
            )
        if not 0 <= bp <= FULL_PERCENT_BP:
            raise InvalidValue(
                f"a discount must be between 0 and 100 %, not {bp / 100:g} %",
                field=f"{where}.discount.basis_points",
            )
        return divide_half_up(gross * bp, FULL_PERCENT_BP)
    amount = discount.amount_minor
    if amount is None:
        raise InvalidValue("an amount discount needs an amount", field=f"{where}.discount.amount")
    if not 0 <= amount <= gross:
        raise InvalidValue(
            f"a discount must be between 0 and the line's amount {gross}, not {amount}",
            field=f"{where}.discount.amount",
        )
    return amount


def price_lines(lines: Sequence[LineInput], currency: str) -> tuple[tuple[PricedLine, ...], Totals]:
    if not lines:
        raise InvalidValue("a proposal needs at least one line", field="body.lines")
    refusals = Refusals(InvalidValue)
    priced_lines: list[PricedLine] = []
    for n, line in enumerate(lines, start=1):
        with refusals.check():
            priced_lines.append(price_line(n, line, currency))
    refusals.raise_if_any()  # every bad line named, not only the first
    priced = tuple(priced_lines)
    subtotal = sum(p.gross_minor for p in priced)
    discount = sum(p.discount_minor for p in priced)
    return priced, Totals(subtotal, discount, subtotal - discount)


def needs_approval(lines: Sequence[PricedLine], threshold_bp: int) -> bool:
    """Discount policy: a line discounted by more than the threshold needs a done approval.

    A percent discount is judged as expressed (before rounding), an amount discount by its
    share of the line's gross amount.
    """
    return any(_over(line, threshold_bp) for line in lines)


def _over(line: PricedLine, threshold_bp: int) -> bool:
    d = line.discount
    if d is not None and d.kind is DiscountKind.PERCENT and d.basis_points is not None:
        return d.basis_points > threshold_bp
    return line.discount_minor * FULL_PERCENT_BP > threshold_bp * line.gross_minor


@dataclass(frozen=True)
class ApprovalTerm:
    """A discounted line as an approval saw it: the approval covers exactly these terms."""

    item_code: str
    quantity: int
    unit_price_minor: int
    discount_kind: DiscountKind
    basis_points: int | None
    amount_minor: int | None


def _term(line: PricedLine) -> ApprovalTerm:
    assert line.discount is not None
    return ApprovalTerm(
        item_code=line.item_code,
        quantity=line.quantity,
        unit_price_minor=line.unit_price_minor,
        discount_kind=line.discount.kind,
        basis_points=line.discount.basis_points,
        amount_minor=line.discount.amount_minor,
    )


def discounted_terms(lines: Sequence[PricedLine]) -> tuple[ApprovalTerm, ...]:
    """The terms of every discounted line: what a done approval step records."""
    return tuple(_term(line) for line in lines if line.discount is not None)


def terms_needing_approval(
    lines: Sequence[PricedLine], threshold_bp: int
) -> tuple[ApprovalTerm, ...]:
    """The terms of the lines over the threshold: what an approval must have covered."""
    return tuple(
        _term(line) for line in lines if line.discount is not None and _over(line, threshold_bp)
    )
