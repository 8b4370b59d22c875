"""CSV exports: a cell a spreadsheet would evaluate is written as text."""

import csv
import io

import pytest
from crm_kit.csv_export import csv_text, safe_cell


@pytest.mark.parametrize(
    "hostile",
    ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\r=1"],
)
def test_a_cell_starting_like_a_formula_is_written_as_text(hostile: str) -> None:
    assert safe_cell(hostile) == "'" + hostile
    (row,) = list(csv.reader(io.StringIO(csv_text(["h"], [[hostile]]))))[1:]
    assert row == ["'" + hostile]


def test_ordinary_text_and_numbers_are_written_as_they_are() -> None:
    text = csv_text(["name", "count", "share"], [["Pumps = valves", -3, 0.25]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["name", "count", "share"],
        ["Pumps = valves", "-3", "0.25"],
    ]
