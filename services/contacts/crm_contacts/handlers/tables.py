"""Uploaded tables (CSV as a spreadsheet saves it, or XLSX): decode, check the header, bound
the rows.

What the imports share. A spreadsheet saves UTF-8 with or without a byte order mark, and in
locales whose decimal mark is a comma (Russian among them) separates the columns with ``;``:
the separator is read off the header row. Cells are data, never formulas: nothing is evaluated,
and a cell our own exports neutralised (``'=…``, see ``crm_kit.csv_export``) loses that quote.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import openpyxl
from crm_kit.csv_export import FORMULA_STARTS
from crm_kit.problems import FieldError, InvalidInput

Row = dict[str, str | None]


@dataclass(frozen=True)
class Shape:
    """What an import's table may hold."""

    columns: Sequence[str]
    required: Sequence[str]
    max_rows: int
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Other header names (compared case-insensitively) for the columns."""


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


def check_header(found: Iterable[str], shape: Shape) -> list[str]:
    """The header as column names (an alias read as its column); a missing or unknown column
    refuses the whole file (422), each one named."""
    names = [shape.aliases.get(h.strip().casefold(), h.strip()) for h in found]
    errors = [
        FieldError(field="body.header", message=f"missing column {c}", type="missing")
        for c in shape.required
        if c not in names
    ] + [
        FieldError(field="body.header", message=f"unknown column {c}", type="extra_forbidden")
        for c in names
        if c not in shape.columns
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
                    message=f"at most {max_rows} rows per import",
                    type="too_long",
                )
            ]
        )


def read_upload(raw: bytes, shape: Shape) -> list[tuple[int, Row]]:
    """An uploaded table, an XLSX workbook (told by its content) or else a UTF-8 CSV."""
    if is_xlsx(raw):
        return read_xlsx(raw, shape)
    return read_csv(decode(raw), shape)


def read_csv(text: str, shape: Shape) -> list[tuple[int, Row]]:
    """The rows with their line numbers (the header is line 1), every cell read by
    :func:`cell_text`; a wrong header or more than ``max_rows`` rows refuses the file (422)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator(text))
    lines = ((reader.line_num, row) for row in reader)
    try:
        return read_lines(lines, shape)
    except csv.Error as exc:  # e.g. a quote left open, a NUL
        raise InvalidInput(
            [
                FieldError(
                    field="body",
                    message=f"the CSV cannot be read at line {reader.line_num}: {exc}",
                    type="unreadable",
                )
            ]
        ) from exc


def read_xlsx(raw: bytes, shape: Shape) -> list[tuple[int, Row]]:
    """The first sheet of an Excel workbook, read as :func:`read_csv` reads a CSV; a formula
    is its text (``=SUM(A1:A3)``), never its result."""
    book = _workbook(raw)
    try:
        return read_lines(_sheet_lines(book.worksheets[0]), shape)
    finally:
        book.close()


def read_lines(
    lines: Iterable[tuple[int, Sequence[str | None]]], shape: Shape
) -> list[tuple[int, Row]]:
    """A table given as (line number, cells), the first line its header."""
    found = iter(lines)
    _, header_cells = next(found, (1, []))
    header = [h or "" for h in header_cells]
    while header and not header[-1].strip():
        header.pop()  # the empty cells a spreadsheet may save after the last column
    names = check_header(header, shape)
    rows: list[tuple[int, Row]] = []
    for line, values in found:
        cells = {name: cell_text(value) for name, value in zip(names, values, strict=False)}
        if not any(cells.values()):
            continue  # a blank line a spreadsheet left at the end
        rows.append((line, cells))
        if len(rows) > shape.max_rows:
            break  # enough to refuse; the rest is not read
    check_row_count(len(rows), shape.max_rows)
    return rows


XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_XLSX_UNPACKED = 20_000_000
"""What the parts of a workbook may add up to once unpacked: a small zip may unpack huge."""


def is_xlsx(raw: bytes) -> bool:
    """Whether ``raw`` is a zip archive, as every XLSX workbook is (a CSV never starts so)."""
    return raw.startswith(b"PK\x03\x04")


def _unreadable() -> InvalidInput:
    return InvalidInput(
        [FieldError(field="body", message="not a readable XLSX workbook", type="xlsx")]
    )


def _workbook(raw: bytes) -> Any:
    refused = _unreadable()
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise refused from exc
    if unpacked > MAX_XLSX_UNPACKED:
        raise InvalidInput(
            [
                FieldError(
                    field="body",
                    message=f"the workbook unpacks to {unpacked} bytes, more than "
                    f"{MAX_XLSX_UNPACKED}",
                    type="too_long",
                )
            ]
        )
    try:
        book = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise refused from exc
    if not book.worksheets:
        raise refused
    return book


def _sheet_lines(sheet: Any) -> Iterator[tuple[int, list[str | None]]]:
    """The sheet's rows as (row number, cells); a sheet is parsed as it is read, so damage
    found on the way refuses the workbook too."""
    try:
        for at, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield at, [_xlsx_cell(v) for v in values]
    except Exception as exc:  # as in _workbook: any parse error of a damaged sheet
        raise _unreadable() from exc


def _xlsx_cell(value: object) -> str | None:
    """A workbook cell as the text a CSV would hold: whole numbers without ``.0``."""
    match value:
        case None:
            return None
        case bool():
            return "true" if value else "false"
        case float() if value.is_integer():
            return str(int(value))
        case datetime():
            return value.isoformat()
        case _:
            return str(value)
