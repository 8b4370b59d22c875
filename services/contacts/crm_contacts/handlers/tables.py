"""Uploaded tables (CSV, as a spreadsheet saves it): decode, check the header, bound the rows.

What the imports share. A spreadsheet saves UTF-8 with or without a byte order mark, and in
locales whose decimal mark is a comma (Russian among them) separates the columns with ``;``:
the separator is read off the header row. Cells are data, never formulas: nothing is evaluated,
and a cell our own exports neutralised (``'=…``, see ``crm_kit.csv_export``) loses that quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence

from crm_kit.csv_export import FORMULA_STARTS
from crm_kit.problems import FieldError, InvalidInput

Row = dict[str, str | None]


def decode(raw: bytes, *, what: str = "the CSV") -> str:
    """UTF-8 text, a leading byte order mark dropped; anything else is refused (422)."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            [FieldError(field="body", message=f"{what} is not UTF-8: {exc}", type="encoding")]
        ) from exc


def separator(text: str) -> str:
    """``;`` when the header row holds more of them than commas, else ``,``."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def cell_text(value: str | None) -> str | None:
    """A cell as the text it stands for; an empty one is ``None``."""
    text = (value or "").strip()
    if text.startswith("'") and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    return text or None


def split_list(value: str | None) -> tuple[str, ...]:
    """A cell holding a list: items separated by ``;`` or ``,``."""
    return tuple(v.strip() for v in (value or "").replace(",", ";").split(";") if v.strip())


def check_header(
    found: Iterable[str],
    *,
    columns: Sequence[str],
    required: Sequence[str],
    aliases: Mapping[str, str] | None = None,
) -> list[str]:
    """The header as column names (an alias read as its column); a missing or unknown column
    refuses the whole file (422), each one named."""
    names = [(aliases or {}).get(h.strip().casefold(), h.strip()) for h in found]
    errors = [
        FieldError(field="body.header", message=f"missing column {c}", type="missing")
        for c in required
        if c not in names
    ] + [
        FieldError(field="body.header", message=f"unknown column {c}", type="extra_forbidden")
        for c in names
        if c not in columns
    ]
    if errors:
        raise InvalidInput(errors)
    return names


def check_row_count(count: int, max_rows: int) -> None:
    if count > max_rows:
        raise InvalidInput(
            [
                FieldError(
                    field="body",
                    message=f"at most {max_rows} rows per import, not {count}",
                    type="too_long",
                )
            ]
        )


def read_csv(
    text: str,
    *,
    columns: Sequence[str],
    required: Sequence[str],
    max_rows: int,
    aliases: Mapping[str, str] | None = None,
) -> list[tuple[int, Row]]:
    """The rows with their line numbers (the header is line 1), every cell read by
    :func:`cell_text`; a wrong header or more than ``max_rows`` rows refuses the file (422)."""
    reader = csv.DictReader(io.StringIO(text), delimiter=separator(text))
    reader.fieldnames = check_header(
        reader.fieldnames or (), columns=columns, required=required, aliases=aliases
    )
    rows: list[tuple[int, Row]] = []
    for row in reader:
        if not any(cell_text(v) for k, v in row.items() if k is not None):
            continue  # a blank line a spreadsheet left at the end
        rows.append((reader.line_num, {k: cell_text(v) for k, v in row.items() if k is not None}))
    check_row_count(len(rows), max_rows)
    return rows
