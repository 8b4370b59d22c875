"""Route for importing clients with their people and consents from a table."""

from __future__ import annotations

from typing import Annotated

from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Request

from crm_contacts.api.common import MAX_CSV_BYTES, Writer, bounded_body, table_upload
from crm_contacts.handlers import imports as handlers
from crm_contacts.handlers import tables
from crm_contacts.schemas.imports import ClientImportOut

router = APIRouter(tags=["clients"])

DryRun = Annotated[
    bool, Query(description="Judge every row and report what would happen; store nothing.")
]


@router.post(
    "/clients/import",
    response_model=ClientImportOut,
    responses=problem_responses(413, 422),
    summary="Import clients with their people and consents from CSV or XLSX",
    description="Send `text/csv` (UTF-8, with or without a byte order mark; columns separated "
    "by `,` or `;`, read off the header row) or an XLSX workbook (its first sheet) with a "
    "header naming any of the columns "
    f"{', '.join(f'`{c}`' for c in handlers.IMPORT_COLUMNS)} (`client_name` is required; "
    "Russian names such as `Наименование`, `ИНН`, `Телефон` are read too, docs/integration.md). "
    "One row a person; the rows of one client share its `client_key`, else its tax id, else "
    "its name. `tags` and `consents` (channels: email, phone, mobile, fax, pager) are lists "
    "separated by `,` or `;`. Each client is checked as `POST /clients` checks it; one that "
    "looks like an existing client (the same duplicate rules) or like an earlier one of the "
    "file is reported as `duplicate` and not stored, so importing the same file again creates "
    "nothing. A client with a bad row is not stored; every row is answered with its status "
    "and errors (`row[<line>].<column>`). With `dry_run=true` nothing is stored. Cells are "
    "text, never formulas (an XLSX formula is read as its text). A body over "
    f"{MAX_CSV_BYTES:,} bytes is refused with 413, more than {handlers.MAX_IMPORT_ROWS} rows "
    "with 422.",
    openapi_extra=table_upload(tables.XLSX_MEDIA_TYPE),
)
async def import_clients(
    request: Request, runtime: RuntimeDep, caller: Writer, dry_run: DryRun = False
) -> ClientImportOut:
    raw = await bounded_body(request, MAX_CSV_BYTES)
    rows = await handlers.import_clients(runtime, raw, dry_run=dry_run, by=caller.subject)
    return ClientImportOut.of(rows, dry_run=dry_run)
