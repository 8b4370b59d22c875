"""Estimate totals against the budget, and the effectiveness arithmetic."""

from __future__ import annotations

import pytest
from crm_campaigns.domain.effectiveness import effectiveness
from crm_campaigns.domain.errors import InvalidAmount
from crm_campaigns.domain.estimate import EstimateLine, totals
from crm_campaigns.domain.money import Money


def rub(minor: int) -> Money:
    return Money(minor, "RUB")


LINES = (
    EstimateLine("hall", "venue", "Hall", 1, rub(60_000), rub(70_000)),
    EstimateLine("food", "catering", "Lunch", 40, rub(1_000), rub(900)),
    EstimateLine("print", "printing", "Flyers", 100, rub(50)),
)


def test_estimate_totals_planned_and_actual_against_the_budget() -> None:
    t = totals(LINES, rub(120_000), "RUB")
    assert t.planned == rub(105_000)
    assert t.actual == rub(106_000)  # lines without an actual cost add nothing yet
    assert t.planned_variance == rub(15_000)
    assert t.actual_variance == rub(14_000)
    assert t.over_budget is False


def test_spending_past_the_budget_is_flagged() -> None:
    t = totals(LINES, rub(100_000), "RUB")
    assert t.over_budget is True
    assert t.actual_variance == rub(-6_000)


def test_negative_costs_and_quantities_are_refused() -> None:
    with pytest.raises(InvalidAmount) as refused:
        EstimateLine("x", "venue", "", 1, rub(-1))
    assert refused.value.field == "planned_unit"
    with pytest.raises(InvalidAmount):
        EstimateLine("x", "venue", "", -1, rub(1))


def test_a_line_in_another_currency_is_refused() -> None:
    with pytest.raises(InvalidAmount):
        totals((EstimateLine("x", "venue", "", 1, Money(1, "EUR")),), None, "RUB")


def test_effectiveness_ratios_costs_and_no_shows() -> None:
    counters = {
        "planned": 10, "invited": 8, "delivered": 6, "failed": 2, "accepted": 4,
        "declined": 2, "attended": 3, "attended_accepted": 2, "no_show": 2, "questionnaires": 2,
        "new_potential_clients": 2, "contact_records": 5,
    }  # fmt: skip
    e = effectiveness(counters, totals(LINES, rub(100_000), "RUB"), completed=True)
    assert e.participation_ratio == 0.375
    assert e.questionnaire_response_rate == 0.6667
    assert e.no_show == 2
    assert e.cost_per_attendee == rub(35_333)  # 106,000 / 3 rounded half up
    assert e.cost_per_new_potential_client == rub(53_000)
    assert e.budget_variance == rub(-6_000)


def test_before_anyone_is_invited_ratios_are_unknown_not_zero() -> None:
    e = effectiveness({}, totals((), None, "RUB"), completed=False)
    assert e.participation_ratio is None
    assert e.cost_per_attendee is None
    assert e.no_show is None
