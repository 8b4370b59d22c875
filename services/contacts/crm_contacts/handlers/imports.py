"""Importing clients with their people and consents from a table, with a dry run.

One row a person (or a client alone), in a CSV or the first sheet of an XLSX workbook. The rows
of one client are grouped by ``client_key``, else by the tax id, else by the normalised name;
the client's columns are read from the first row of its group, and a later row either leaves
them empty or repeats them.

Each client is checked as ``POST /clients`` checks it (the same request schemas and domain
code) and matched by the same duplicate rules: one that looks like an existing client, or like
a client earlier in the same file, is reported as a duplicate (with the existing client's id)
and not stored. When the existing client has the same tax id, the file's people it does not
have yet are added to it (``handlers.import_people``). A second run of the same file therefore
creates nothing. A client with any bad
row is not stored, and every one of its rows says why; the other clients still go in.

A stored client is one document carrying its outbox: ``ClientRegistered``, a ``PersonAdded``
per person and a ``ConsentChanged`` (source ``import``) per consent given in the file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from crm_contacts import domain
from crm_contacts.domain import matching
from crm_contacts.handlers import tables
from crm_contacts.handlers.clients import NewClient, client_candidates, new_client, store_client
from crm_contacts.handlers.common import in_request, request_refusals
from crm_contacts.handlers.import_people import Incoming, add_people, same_tax_id
from crm_contacts.repository import ClientRepository
from crm_contacts.schemas.clients import ClientCreate
from crm_contacts.schemas.people import PersonCreate
from crm_kit.clock import utc_now
from crm_kit.problems import FieldError, refusal_error
from crm_kit.refusals import Refused, refusals_of
from crm_kit.runtime import Runtime
from pydantic import BaseModel, ValidationError

MAX_IMPORT_ROWS = 1000
CLIENT_COLUMNS = (
    "client_key",
    "client_name",
    "client_kind",
    "tax_id",
    "country",
    "region",
    "activity_code",
    "activity",
    "tags",
    "website",
    "address",
)
PERSON_COLUMNS = (
    "person_name",
    "position",
    "department",
    "email",
    "phone",
    "mobile",
    "language",
    "preferred_channel",
    "consents",
)
IMPORT_COLUMNS = CLIENT_COLUMNS + PERSON_COLUMNS
REQUIRED_COLUMNS = ("client_name",)

ALIASES: Mapping[str, str] = {
    "ключ": "client_key",
    "ключ клиента": "client_key",
    "клиент": "client_name",
    "наименование": "client_name",
    "название": "client_name",
    "тип": "client_kind",
    "тип клиента": "client_kind",
    "инн": "tax_id",
    "страна": "country",
    "регион": "region",
    "код отрасли": "activity_code",
    "отрасль": "activity",
    "сфера деятельности": "activity",
    "теги": "tags",
    "метки": "tags",
    "сайт": "website",
    "адрес": "address",
    "контактное лицо": "person_name",
    "фио": "person_name",
    "должность": "position",
    "отдел": "department",
    "e-mail": "email",
    "эл. почта": "email",
    "электронная почта": "email",
    "телефон": "phone",
    "мобильный": "mobile",
    "мобильный телефон": "mobile",
    "язык": "language",
    "предпочтительный канал": "preferred_channel",
    "согласия": "consents",
    "согласие": "consents",
}
"""Header names a Russian-language spreadsheet may use (compared case-insensitively)."""

VALUES: Mapping[str, str] = {
    "организация": "organisation",
    "юрлицо": "organisation",
    "частное лицо": "person",
    "физлицо": "person",
    "физическое лицо": "person",
    "русский": "ru",
    "английский": "en",
    "e-mail": "email",
    "почта": "email",
    "эл. почта": "email",
    "телефон": "phone",
    "мобильный": "mobile",
    "факс": "fax",
    "пейджер": "pager",
}
"""Russian words for the values of ``client_kind``, ``language``, ``preferred_channel`` and
``consents``."""

TABLE = tables.Shape(IMPORT_COLUMNS, REQUIRED_COLUMNS, MAX_IMPORT_ROWS, ALIASES)

CLIENT_FIELDS: Mapping[str, str] = {
    "name": "client_name",
    "kind": "client_kind",
    "tax_id": "tax_id",
    "country": "country",
    "region": "region",
    "field_of_activity.label": "activity",
    "field_of_activity": "activity_code",
    "tags": "tags",
    "website": "website",
    "addresses": "address",
    "source_note": "client_key",
}
"""Where a client's value (as the request schema and the domain name it) sits in the table."""

PERSON_FIELDS: Mapping[str, str] = {
    "name": "person_name",
    "position": "position",
    "department": "department",
    "language": "language",
    "channels.email": "email",
    "channels.phone": "phone",
    "channels.mobile": "mobile",
    "preferred_channel": "preferred_channel",
    "consents": "consents",
}

_CLIENT_AT = "client@"
_PERSON_AT = "person@"
M = TypeVar("M", bound=BaseModel)


@dataclass
class ImportedRow:
    row: int
    client_row: int
    """The first row of the row's client."""
    status: str
    """``created``, ``would_create`` (a dry run), ``duplicate`` or ``error``; for a row of a
    client that exists already (the same tax id), ``person_added``, ``would_add_person`` (a
    dry run) or ``person_exists`` (``handlers.import_people``)."""
    with_person: bool = False
    client_id: str | None = None
    person_id: str | None = None
    duplicate_of: list[dict[str, object]] = field(default_factory=list)
    duplicate_of_row: int | None = None
    errors: list[FieldError] = field(default_factory=list)


async def import_clients(
    runtime: Runtime, raw: bytes, *, dry_run: bool, by: str | None
) -> list[ImportedRow]:
    """Import (or, in a dry run, only judge) every client of the table (CSV or XLSX); one
    result a row."""
    # Parsing a workbook is CPU work of up to a second or so: off the event loop.
    rows = await asyncio.to_thread(tables.read_upload, raw, TABLE)
    groups: dict[str, list[tuple[int, tables.Row]]] = {}
    for line, row in rows:
        groups.setdefault(_group_key(row), []).append((line, row))
    planned: dict[str, int] = {}
    results: dict[int, ImportedRow] = {}
    for members in groups.values():
        for result in await _import_client(runtime, members, planned, dry_run=dry_run, by=by):
            results[result.row] = result
    return [results[line] for line, _ in rows]


def _group_key(row: tables.Row) -> str:
    if row.get("client_key"):
        return f"key:{row['client_key']}"
    if row.get("tax_id"):
        return f"tax:{''.join((row['tax_id'] or '').split())}"
    return f"name:{matching.normalise_name(row.get('client_name') or '')}"


async def _import_client(
    runtime: Runtime,
    members: list[tuple[int, tables.Row]],
    planned: dict[str, int],
    *,
    dry_run: bool,
    by: str | None,
) -> list[ImportedRow]:
    """One client of the table: judged, then stored unless refused, a duplicate or a dry run.

    ``planned`` maps the match keys of the file's clients judged so far to their first row.
    """
    first_line, first = members[0]
    errors: dict[int, list[FieldError]] = {line: [] for line, _ in members}
    client_in = _validated(ClientCreate, _client_body(first), first_line, CLIENT_FIELDS, errors)
    for line, row in members[1:]:
        for column in CLIENT_COLUMNS[1:]:
            if row.get(column) is not None and row.get(column) != first.get(column):
                errors[line].append(
                    FieldError(
                        field=f"row[{line}].{column}",
                        message=f"differs from row {first_line}, the first of the same client",
                        type="value_error",
                    )
                )
    people: list[tuple[int, PersonCreate]] = []
    seen: dict[tuple[str, ...], int] = {}
    for line, row in members:
        body = _person_body(row)
        if body is None:
            continue
        same = tuple(str(row.get(c) or "").casefold() for c in PERSON_COLUMNS)
        if same in seen:  # a row copied twice would add the person twice
            errors[line].append(
                FieldError(
                    field=f"row[{line}].person_name",
                    message=f"the same person as row {seen[same]}",
                    type="value_error",
                )
            )
            continue
        seen[same] = line
        person_in = _validated(PersonCreate, body, line, PERSON_FIELDS, errors)
        if person_in is not None:
            people.append((line, person_in))
    if client_in is None:
        return _refused(members, errors)

    command = replace(
        client_in.to_command(insist=False),
        # Consents are given after the person is added, each its own ConsentChanged fact
        # with the import as its source: where a consent came from is part of it.
        people=tuple(replace(p.to_new_person(), consents=()) for _, p in people),
    )
    now = utc_now()
    try:
        new = new_client(
            command,
            by=by,
            now=now,
            prefix=f"{_CLIENT_AT}{first_line}",
            person_prefixes=[f"{_PERSON_AT}{line}" for line, _ in people],
        )
        client, happened = new.client, list(new.happened)
        refusals = request_refusals()
        for (line, given_in), person in zip(people, client.people, strict=True):
            for channel in given_in.consents:
                with refusals.check(in_request(f"{_PERSON_AT}{line}.consents")):
                    client, given = client.set_consent(
                        person.person_id, channel, granted=True, source="import", now=now
                    )
                    happened.extend(given)
        refusals.raise_if_any()
    except (domain.ContactsError, Refused) as exc:
        for error in refusals_of(exc) or (exc,):
            line, column = _place(getattr(error, "field", None), first_line)
            # Its message and kind as the API names them (``invalid-channel``…), at its cell.
            refused = refusal_error(error)
            errors[line].append(refused.model_copy(update={"field": f"row[{line}].{column}"}))
    if any(errors.values()):
        return _refused(members, errors)

    found = await ClientRepository(runtime).matching(new.keys)
    earlier = sorted({planned[k] for k in new.keys if k in planned})
    if found or earlier:
        candidates = client_candidates(new.keys, found)
        existing = None if earlier else same_tax_id(new.client, found)
        joined = {}
        if existing is not None and people:
            # The client is there already: the file's people it lacks are added to it.
            incoming = [
                Incoming(line, person, tuple(given_in.consents))
                for (line, given_in), person in zip(people, new.client.people, strict=True)
            ]
            joined = await add_people(
                runtime, existing.client_id, incoming, dry_run=dry_run, now=now
            )
        return [
            ImportedRow(
                line,
                first_line,
                joined[line].status if line in joined else "duplicate",
                with_person=line in joined,
                client_id=existing.client_id if existing else found[0].client_id if found else None,
                person_id=joined[line].person_id if line in joined else None,
                duplicate_of=candidates,
                duplicate_of_row=earlier[0] if earlier else None,
            )
            for line, _ in members
        ]
    for key in new.keys:
        planned.setdefault(key, first_line)
    with_person = {line for line, _ in people}
    if dry_run:
        return [
            ImportedRow(line, first_line, "would_create", with_person=line in with_person)
            for line, _ in members
        ]
    client = replace(client, version=1)  # one new document carrying every fact
    stored = await store_client(runtime, NewClient(client, happened, new.keys), now=now)
    person_of = {line: p.person_id for (line, _), p in zip(people, stored.people, strict=True)}
    return [
        ImportedRow(
            line,
            first_line,
            "created",
            with_person=line in person_of,
            client_id=stored.client_id,
            person_id=person_of.get(line),
        )
        for line, _ in members
    ]


def _client_body(row: tables.Row) -> dict[str, Any]:
    """The first row's client columns as a ``POST /clients`` body."""
    body: dict[str, Any] = {
        "name": row.get("client_name"),
        "kind": _value(row.get("client_kind")),
        "tax_id": row.get("tax_id"),
        "country": (row.get("country") or "").upper() or None,
        "region": row.get("region"),
        "website": row.get("website"),
        "source": "import",
    }
    code, label = row.get("activity_code"), row.get("activity")
    if code or label:
        body["field_of_activity"] = {"code": code or label, "label": label or code}
    if row.get("tags"):
        body["tags"] = list(tables.split_list(row.get("tags")))
    if row.get("address"):
        body["addresses"] = [{"text": row["address"]}]
    if row.get("client_key"):
        body["source_note"] = f"import key {row['client_key']}"
    return {k: v for k, v in body.items() if v is not None}


def _person_body(row: tables.Row) -> dict[str, Any] | None:
    """The row's person columns as a person of a ``POST /clients`` body; ``None`` when the
    row names no person (a client alone)."""
    if not any(row.get(c) for c in PERSON_COLUMNS):
        return None
    channels = {c: row.get(c) for c in ("email", "phone", "mobile") if row.get(c)}
    body: dict[str, Any] = {
        "name": row.get("person_name"),
        "position": row.get("position"),
        "department": row.get("department"),
        "language": _value(row.get("language")),
        "preferred_channel": _value(row.get("preferred_channel")),
        "channels": channels,
        "consents": [_value(c) for c in tables.split_list(row.get("consents"))],
    }
    return {k: v for k, v in body.items() if v is not None}


def _value(text: str | None) -> str | None:
    if text is None:
        return None
    word = text.strip().casefold()
    return VALUES.get(word, word)


def _validated(
    model: type[M],
    body: dict[str, Any],
    line: int,
    columns: Mapping[str, str],
    errors: dict[int, list[FieldError]],
) -> M | None:
    """``body`` read by the request schema; each refused value is an error at its column.

    What is returned after a refusal is a stand-in without the refused values (a refused name
    reads ``unsaved``), so that the domain's checks of the other values still run and the row
    is answered with all its errors at once. It is never stored: the row has errors.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        for error in exc.errors():
            path = ".".join(str(p) for p in error["loc"])
            errors[line].append(
                FieldError(
                    field=f"row[{line}].{_column(path, columns)}",
                    message=error["msg"],
                    type=error["type"],
                )
            )
        refused = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        stand_in = {k: v for k, v in body.items() if k not in refused}
        if "name" in refused:
            stand_in["name"] = "unsaved"
        try:
            return model.model_validate(stand_in)
        except ValidationError:
            return None


def _column(path: str, columns: Mapping[str, str]) -> str:
    for name in sorted(columns, key=len, reverse=True):
        if path == name or path.startswith(f"{name}."):
            return columns[name]
    return path


def _place(path: str | None, first_line: int) -> tuple[int, str]:
    """The row and column a domain refusal's field (``person@5.channels.email``) points at."""
    for at, columns in ((_CLIENT_AT, CLIENT_FIELDS), (_PERSON_AT, PERSON_FIELDS)):
        if path and path.startswith(at):
            line, _, rest = path[len(at) :].partition(".")
            if line.isdigit():
                return int(line), _column(rest, columns)
    return first_line, "client_name"


def _refused(
    members: Sequence[tuple[int, tables.Row]], errors: Mapping[int, list[FieldError]]
) -> list[ImportedRow]:
    bad = [line for line, _ in members if errors[line]]
    return [
        ImportedRow(
            line,
            members[0][0],
            "error",
            errors=errors[line]
            or [
                FieldError(
                    field=f"row[{line}]",
                    message="not imported: row(s) "
                    + ", ".join(map(str, bad))
                    + " of the same client have errors",
                    type="client_refused",
                )
            ],
        )
        for line, _ in members
    ]
