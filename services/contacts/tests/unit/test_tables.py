"""Reading uploaded tables: separators, spreadsheet habits, limits."""

from __future__ import annotations

import pytest
from crm_contacts.handlers import tables
from crm_kit.problems import InvalidInput

COLUMNS = ("name", "email", "tags")
SHAPE = tables.Shape(COLUMNS, ("name",), max_rows=2, aliases={"имя": "name", "email": "email"})


def test_the_separator_is_read_off_the_header_row() -> None:
    assert tables.separator("name;email\nA, B;a@x\n") == ";"
    assert tables.separator("name,email\nA;B,a@x\n") == ","


def test_a_neutralised_formula_loses_its_quote_and_other_cells_stay_as_typed() -> None:
    assert tables.cell_text("'=SUM(A1:A2)") == "=SUM(A1:A2)"
    assert tables.cell_text("=SUM(A1:A2)") == "=SUM(A1:A2)"
    assert tables.cell_text("'quoted") == "'quoted"
    assert tables.cell_text("   ") is None


def test_header_aliases_are_read_case_insensitively_and_blank_rows_skipped() -> None:
    rows = tables.read_csv("Имя;EMAIL\nАнна;anna@example.com\n;\n", SHAPE)
    assert rows == [(2, {"name": "Анна", "email": "anna@example.com"})]


def test_a_table_over_the_row_limit_is_refused_naming_the_limit() -> None:
    with pytest.raises(InvalidInput) as refused:
        tables.read_csv("name\na\nb\nc\n", SHAPE)
    assert refused.value.errors[0].message == "at most 2 rows per import"


def test_a_missing_and_an_unknown_column_are_each_named() -> None:
    with pytest.raises(InvalidInput) as refused:
        tables.read_csv("email,size\n", SHAPE)
    assert [e.message for e in refused.value.errors] == [
        "missing column name",
        "unknown column size",
    ]


def test_a_lone_carriage_return_is_a_line_break_and_an_unreadable_csv_a_refusal() -> None:
    # What the fuzz sent to POST /contacts/import: a bare CR inside a field once crashed csv.
    assert tables.read_csv("name\rA\r", SHAPE) == [(2, {"name": "A"})]
    with pytest.raises(InvalidInput) as refused:
        tables.read_csv("name\n" + "x" * 200_000 + "\n", SHAPE)  # past csv's field limit
    [error] = refused.value.errors
    assert (error.field, error.type) == ("body", "unreadable")
    assert error.message.startswith("the CSV cannot be read at line 2")
