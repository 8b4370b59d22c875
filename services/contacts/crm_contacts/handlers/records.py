"""Use cases on contact records: record one, import a batch of paper reports, read."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from crm_contacts import commands, domain, events
from crm_contacts.handlers import tables
from crm_contacts.handlers.common import fields_in, merged_problem, referenced_employee
from crm_contacts.repository import (
    CLIENTS,
    ClientFilter,
    ClientRepository,
    EmployeeRepository,
    Page,
    RecordFilter,
    RecordRepository,
    TimelineEntry,
    TimelineRepository,
)
from crm_contracts.values import ContactDirection, ContactKind
from crm_kit.clock import utc_now
from crm_kit.problems import FieldError, NotFound, Problem
from crm_kit.runtime import Runtime
from pydantic import ValidationError

MAX_IMPORT_ROWS = 1000
IMPORT_COLUMNS = (
    "client_id",
    "person_id",
    "employee_id",
    "kind",
    "direction",
    "occurred_at",
    "summary",
    "outcome",
    "need_item_codes",
    "need_tags",
    "event_id",
    "proposal_id",
)
REQUIRED_COLUMNS = ("client_id", "employee_id", "kind", "occurred_at", "summary")
TABLE = tables.Shape(IMPORT_COLUMNS, REQUIRED_COLUMNS, MAX_IMPORT_ROWS)


async def record_contact(
    runtime: Runtime, command: commands.RecordContact, *, by: str | None, prefix: str = "body"
) -> domain.ContactRecord:
    """Record a contact with a live client, by a known active employee, with its person."""
    with fields_in(prefix):
        client = await ClientRepository(runtime).get(command.client_id)
        if client is None:
            raise domain.UnknownReference(
                f"there is no client {command.client_id}", field="client_id"
            )
        if client.merged_into is not None:
            raise merged_problem(client.client_id, client.merged_into)
        employee = await referenced_employee(
            EmployeeRepository(runtime), command.employee_id, field="employee_id"
        )
        employee.ensure_active()
        if command.person_id is not None and command.person_id not in {
            p.person_id for p in client.people
        }:
            raise domain.UnknownReference(
                f"client {client.client_id} has no person {command.person_id}", field="person_id"
            )
        record = domain.record_contact(
            contact_id=str(uuid.uuid4()),
            client_id=client.client_id,
            employee_id=employee.employee_id,
            kind=command.kind,
            direction=command.direction,
            occurred_at=command.occurred_at,
            summary=command.summary,
            now=utc_now(),
            person_id=command.person_id,
            outcome=command.outcome,
            need_item_codes=command.need_item_codes,
            need_tags=command.need_tags,
            event_id=command.event_id,
            proposal_id=command.proposal_id,
            recorded_by=by,
        )
    return await RecordRepository(runtime).add(record, events.contact_recorded(record))


async def get_record(runtime: Runtime, contact_id: str) -> domain.ContactRecord:
    record = await RecordRepository(runtime).get(contact_id)
    if record is None:
        raise NotFound(f"contact record {contact_id} not found")
    return record


async def list_records(
    runtime: Runtime, where: RecordFilter, *, cursor: str | None, limit: int
) -> Page[domain.ContactRecord]:
    return await RecordRepository(runtime).list(where, cursor=cursor, limit=limit)


# -- CSV import ---------------------------------------------------------------------------------
@dataclass
class RowResult:
    row: int
    contact_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def _row_command(row: dict[str, str | None], line: int) -> commands.RecordContact:
    """One CSV row as a command; every unreadable cell is reported, not just the first."""
    errors: list[FieldError] = []

    def cell(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    def fail(name: str, message: str, kind: str = "value_error") -> None:
        errors.append(FieldError(field=f"row[{line}].{name}", message=message, type=kind))

    for name in REQUIRED_COLUMNS:
        if cell(name) is None:
            fail(name, "a value is required", "missing")
    kind: ContactKind | None = None
    direction = ContactDirection.OUTBOUND
    occurred_at: datetime | None = None
    if (raw := cell("kind")) is not None:
        try:
            kind = ContactKind(raw.lower())
        except ValueError:
            fail("kind", f"{raw!r} is not one of {', '.join(k.value for k in ContactKind)}")
    if (raw := cell("direction")) is not None:
        try:
            direction = ContactDirection(raw.lower())
        except ValueError:
            fail("direction", f"{raw!r} is not inbound or outbound")
    if (raw := cell("occurred_at")) is not None:
        try:
            occurred_at = datetime.fromisoformat(raw)
            if occurred_at.tzinfo is None:
                fail("occurred_at", "the time needs a zone, e.g. 2026-11-20T10:00:00+03:00")
        except ValueError:
            fail("occurred_at", f"{raw!r} is not an ISO 8601 date and time")
    if errors or kind is None or occurred_at is None:
        raise _RowInvalid(errors)
    return commands.RecordContact(
        client_id=cell("client_id") or "",
        employee_id=cell("employee_id") or "",
        kind=kind,
        direction=direction,
        occurred_at=occurred_at,
        summary=cell("summary") or "",
        person_id=cell("person_id"),
        outcome=cell("outcome"),
        need_item_codes=tables.split_list(row.get("need_item_codes")),
        need_tags=tables.split_list(row.get("need_tags")),
        event_id=cell("event_id"),
        proposal_id=cell("proposal_id"),
    )


class _RowInvalid(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("invalid row")
        self.errors = errors


async def import_records(runtime: Runtime, text: str, *, by: str | None) -> list[RowResult]:
    """Record each row on its own: a bad row is reported and the others still go in."""
    results: list[RowResult] = []
    for line, row in tables.read_csv(text, TABLE):
        prefix = f"row[{line}]"
        try:
            command = _row_command(row, line)
            record = await record_contact(runtime, command, by=by, prefix=prefix)
        except _RowInvalid as exc:
            results.append(RowResult(line, errors=exc.errors))
        except domain.ContactsError as exc:
            results.append(
                RowResult(
                    line,
                    errors=[
                        FieldError(
                            field=exc.field or prefix, message=str(exc), type=type(exc).__name__
                        )
                    ],
                )
            )
        except Problem as exc:
            results.append(
                RowResult(
                    line,
                    errors=[FieldError(field=prefix, message=str(exc), type=exc.slug or "error")],
                )
            )
        except ValidationError as exc:  # pragma: no cover - the contract refusing a value
            results.append(
                RowResult(line, errors=[FieldError(field=prefix, message=str(exc), type="invalid")])
            )
        else:
            results.append(RowResult(line, contact_id=record.contact_id))
    return results


CURATED_MOST = 5000
"""The curator's clients whose timelines one read of ``curated_timeline`` looks into."""


@dataclass(frozen=True)
class CuratedTimeline:
    page: Page[TimelineEntry]
    names: dict[str, str]
    """Each curated client's name by id (the entries' clients among them)."""
    truncated: bool
    """The curator has more than ``CURATED_MOST`` clients: only that many were looked into."""


async def curated_timeline(
    runtime: Runtime,
    curator_id: str,
    since: datetime,
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> CuratedTimeline:
    """What happened after ``since`` with the clients ``curator_id`` curates (merged clients
    never are: their entries moved to the survivor), oldest or newest first."""
    found = runtime.db[CLIENTS].find(
        ClientFilter(curator_id=curator_id).query(), {"_id": 1, "name": 1}
    )
    docs = [d async for d in found.limit(CURATED_MOST + 1)]
    names = {str(d["_id"]): str(d.get("name") or "") for d in docs[:CURATED_MOST]}
    page = await TimelineRepository(runtime).since(
        list(names), since, cursor=cursor, limit=limit, newest_first=newest_first
    )
    return CuratedTimeline(page, names, len(docs) > CURATED_MOST)


async def timeline_of(
    runtime: Runtime, client_id: str, *, cursor: str | None, limit: int
) -> Page[TimelineEntry]:
    """The timeline of a client; a merged client's id shows its survivor's timeline."""
    client = await ClientRepository(runtime).get(client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    live = client.merged_into or client.client_id
    return await TimelineRepository(runtime).list(live, cursor=cursor, limit=limit)
