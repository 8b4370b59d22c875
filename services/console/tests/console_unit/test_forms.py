"""What the console's forms read, where a service's field errors land, what the proposal
editor previews, and how revisions and charts are laid out."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.analysis import bar_chart
from crm_console.web.editor import Editor, LineRow, preview
from crm_console.web.events import week_days, week_of
from crm_console.web.revisions import side_by_side


def test_an_api_field_path_becomes_the_form_field_name() -> None:
    assert forms.form_name("body.lines[0].discount.basis_points") == "lines-0-discount-basis_points"
    assert forms.form_name("ends_at") == "ends_at"


def test_a_service_error_lands_next_to_the_field_it_names() -> None:
    problem = ApiProblem(
        422,
        "Invalid input",
        errors=[
            {"field": "body.lines[0].discount.basis_points", "message": "at most 100 %"},
            {"field": "body.lines[0]", "message": "unknown item"},
        ],
    )
    known = {"lines-0": "lines-2-item_code", "lines-0-discount": "lines-2-discount"}
    placed = forms.FormErrors().place(problem, known)
    assert placed.fields == {
        "lines-2-discount": "at most 100 %",
        "lines-2-item_code": "unknown item",
    }
    assert not placed.unplaced


def test_an_error_naming_no_field_of_the_form_stays_at_the_top() -> None:
    problem = ApiProblem(409, "Conflict", "a discount needs an approval")
    placed = forms.FormErrors().place(problem, {"title": "title"})
    assert placed.fields == {}
    assert placed.unplaced
    assert placed.problem is problem


@pytest.mark.parametrize(
    ("typed", "minor"), [("1 500,50", 150050), ("1500.5", 150050), ("", None), ("12", 1200)]
)
def test_money_is_read_as_typed_in_either_locale(typed: str, minor: int | None) -> None:
    assert forms.minor_units(typed) == minor


def test_what_is_not_a_number_is_refused_at_the_field() -> None:
    with pytest.raises(ValueError, match="12 rub"):
        forms.minor_units("12 rub")
    with pytest.raises(ValueError, match=r"2\.5"):
        forms.whole("2.5")
    with pytest.raises(ValueError, match="Infinity"):
        forms.decimal("Infinity")
    assert forms.basis_points("12,5") == 1250
    assert forms.decimal("0,1") == Decimal("0.1")


CATALOGUE = {
    "PUMP": {"name": "Pump", "list_price": {"amount_minor": 150_00, "currency": "RUB"}},
}


def test_the_preview_prices_as_proposals_does_half_up_per_line() -> None:
    editor = Editor(lines=[LineRow("PUMP", "3", "", "12,5"), LineRow("PUMP", "1", "0,05", "50")])
    shown = preview(editor, CATALOGUE)
    # 3 x 150.00 = 450.00, 12.5 % = 56.25; 1 x 0.05, 50 % = 0.025 -> 0.03 (half up)
    assert shown.subtotal == {"amount_minor": 450_05, "currency": "RUB"}
    assert shown.discount == {"amount_minor": 56_28, "currency": "RUB"}
    assert shown.total == {"amount_minor": 393_77, "currency": "RUB"}


def test_a_line_not_yet_readable_counts_for_nothing_in_the_preview() -> None:
    editor = Editor(lines=[LineRow("PUMP", "two"), LineRow("NOPE", "1"), LineRow("PUMP", "1")])
    assert preview(editor, CATALOGUE).total == {"amount_minor": 150_00, "currency": "RUB"}
    assert preview(Editor(), CATALOGUE).total is None


def _line(code: str, quantity: int, total: int) -> dict[str, object]:
    money = {"amount_minor": total, "currency": "RUB"}
    return {
        "item_code": code,
        "quantity": quantity,
        "unit_price": money,
        "discount": None,
        "line_total": money,
    }


def test_revisions_are_compared_line_by_line_by_item() -> None:
    left = {"lines": [_line("A", 1, 100), _line("B", 2, 200)]}
    right = {"lines": [_line("A", 3, 100), _line("C", 1, 50)]}
    rows = side_by_side(left, right)
    assert [(r["code"], sorted(r["changed"])) for r in rows] == [
        ("A", ["quantity"]),
        ("C", ["discount", "line_total", "quantity", "unit_price"]),
        ("B", ["discount", "line_total", "quantity", "unit_price"]),
    ]


def test_bars_are_as_long_as_their_share_of_the_largest() -> None:
    chart = bar_chart([("a", 10, "10"), ("b", 5, "5"), ("c", 0, "0")])
    assert [b["width"] for b in chart["bars"]] == [360, 180, 0]
    assert bar_chart([])["bars"] == []


def test_a_week_view_opens_on_the_monday_and_places_events_by_their_day_in_moscow() -> None:
    monday = week_of("2026-12-10")
    assert monday == date(2026, 12, 7)
    first = {"id": "e1", "starts_at": "2026-12-06T21:30:00Z"}  # 00:30 on Monday in Moscow
    after = {"id": "e2", "starts_at": "2026-12-13T21:30:00Z"}  # next Monday in Moscow
    days = week_days(monday, [first, after])
    assert [day for day, _ in days] == [date(2026, 12, 7) + timedelta(days=n) for n in range(7)]
    assert days[0][1] == [first]
    assert all(after not in events for _, events in days)


def test_a_week_that_is_not_a_date_is_this_week() -> None:
    assert week_of("<script>").weekday() == 0
