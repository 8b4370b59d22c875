"""Line prices, discounts, totals and the rounding rule (half up per line)."""

from __future__ import annotations

import pytest
from crm_contracts.values import DiscountKind
from crm_kit.refusals import Refused
from crm_proposals.domain.errors import InvalidValue
from crm_proposals.domain.pricing import (
    Discount,
    LineInput,
    divide_half_up,
    needs_approval,
    price_lines,
)


def line(
    qty: int, price: int, discount: Discount | None = None, currency: str = "EUR"
) -> LineInput:
    return LineInput("SKU", "Item", "pcs", qty, price, currency, discount)


def pct(bp: int) -> Discount:
    return Discount(DiscountKind.PERCENT, basis_points=bp)


def test_division_rounds_half_up() -> None:
    assert [divide_half_up(n, 10) for n in (4, 5, 6, 14, 15, 25)] == [0, 1, 1, 1, 2, 3]


def test_a_percent_discount_is_rounded_half_up_on_each_line_and_totals_add_up() -> None:
    # 3 x 3.33 = 9.99; 12.5 % of 999 = 124.875 -> 125.  1 x 0.10; 5 % of 10 = 0.5 -> 1.
    lines, totals = price_lines([line(3, 333, pct(1250)), line(1, 10, pct(500))], "EUR")
    assert [(p.gross_minor, p.discount_minor, p.total_minor) for p in lines] == [
        (999, 125, 874),
        (10, 1, 9),
    ]
    assert (totals.subtotal_minor, totals.discount_minor, totals.total_minor) == (1009, 126, 883)


def test_an_amount_discount_comes_off_the_whole_line() -> None:
    lines, totals = price_lines(
        [line(4, 2500, Discount(DiscountKind.AMOUNT, amount_minor=1000))], "EUR"
    )
    assert lines[0].total_minor == 9000
    assert (totals.subtotal_minor, totals.discount_minor, totals.total_minor) == (10000, 1000, 9000)


def test_a_discount_over_100_percent_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidValue) as refused:
        price_lines([line(1, 100), line(1, 100, pct(10_001))], "EUR")
    assert refused.value.field == "body.lines[1].discount.basis_points"


def test_an_amount_discount_above_the_line_amount_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        price_lines([line(1, 100, Discount(DiscountKind.AMOUNT, amount_minor=101))], "EUR")
    assert refused.value.field == "body.lines[0].discount.amount"


@pytest.mark.parametrize("quantity", [0, -2])
def test_a_quantity_below_one_is_refused(quantity: int) -> None:
    with pytest.raises(InvalidValue) as refused:
        price_lines([line(quantity, 100)], "EUR")
    assert refused.value.field == "body.lines[0].quantity"


def test_a_line_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        price_lines([line(1, 100), line(1, 100, currency="USD")], "EUR")
    assert refused.value.field == "body.lines[1].unit_price.currency"


def test_every_bad_line_is_refused_not_only_the_first() -> None:
    with pytest.raises(Refused) as refused:
        price_lines([line(0, 100), line(1, 100), line(1, 100, pct(10_001)), line(1, -5)], "EUR")
    assert [getattr(e, "field", None) for e in refused.value.errors] == [
        "body.lines[0].quantity",
        "body.lines[2].discount.basis_points",
        "body.lines[3].unit_price",
    ]


def test_a_proposal_without_lines_is_refused() -> None:
    with pytest.raises(InvalidValue) as refused:
        price_lines([], "EUR")
    assert refused.value.field == "body.lines"


def test_only_a_discount_strictly_above_the_threshold_needs_approval() -> None:
    at_threshold, _ = price_lines([line(1, 1000, pct(1000))], "EUR")
    above, _ = price_lines([line(1, 1000, pct(1001)), line(1, 1000)], "EUR")
    assert needs_approval(at_threshold, 1000) is False
    assert needs_approval(above, 1000) is True
