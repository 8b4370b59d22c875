"""Routes on contact records, their CSV import, and a client's timeline."""

from __future__ import annotations

from typing import Annotated, Literal

from crm_kit.fields import DomainDateTime
from crm_kit.http import MAX_ID_LENGTH, IdPath, IdQuery
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Request, Response, status

from crm_contacts.api.common import (
    MAX_CSV_BYTES,
    Cursor,
    Limit,
    Reader,
    Writer,
    bounded_body,
    table_upload,
)
from crm_contacts.handlers import records as handlers
from crm_contacts.handlers import tables
from crm_contacts.handlers.records import IMPORT_COLUMNS
from crm_contacts.repository import RecordFilter, TimelineEntry
from crm_contacts.schemas.common import Page
from crm_contacts.schemas.records import (
    ContactCreate,
    ContactOut,
    CuratedEntryOut,
    CuratedTimelineOut,
    ImportOut,
    ImportRowOut,
    TimelineActorOut,
    TimelineEntryOut,
)

router = APIRouter(tags=["contact records"])


@router.post(
    "/contacts",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactOut,
    responses=problem_responses(409, 422),
    summary="Record a contact with a client (any department)",
    description="`employee_id` is who made the contact: a person's token may name only its own "
    "employee (claim `employee_id`); an app with the `integration` or `operator` role may name "
    "any (docs/authorization.md).",
)
async def record_contact(
    body: ContactCreate, runtime: RuntimeDep, caller: Writer, response: Response
) -> ContactOut:
    caller.check_acts_for(body.employee_id, "body.employee_id")
    record = await handlers.record_contact(runtime, body.to_command(), by=caller.subject)
    response.headers["Location"] = f"/contacts/{record.contact_id}"
    return ContactOut.of(record)


@router.post(
    "/contacts/import",
    response_model=ImportOut,
    responses=problem_responses(413, 422),
    summary="Key in a batch of paper contact reports from CSV",
    description="Send `text/csv` (UTF-8) with a header row naming the columns "
    f"({', '.join(IMPORT_COLUMNS)}); `need_item_codes` and `need_tags` are separated by `;`. "
    "Each row is recorded on its own and answered with `created` and its id, or `error` and "
    "the row's errors. A body over "
    f"{MAX_CSV_BYTES:,} bytes is refused whole with 413.",
    openapi_extra=table_upload(),
)
async def import_contacts(request: Request, runtime: RuntimeDep, caller: Writer) -> ImportOut:
    text = tables.decode(await bounded_body(request, MAX_CSV_BYTES))
    results = await handlers.import_records(runtime, text, by=caller.subject)
    rows = [
        ImportRowOut(
            row=r.row,
            status="error" if r.errors else "created",
            contact_id=r.contact_id,
            errors=r.errors,
        )
        for r in results
    ]
    created = sum(1 for r in rows if r.status == "created")
    return ImportOut(created=created, failed=len(rows) - created, rows=rows)


@router.get(
    "/contacts",
    response_model=Page[ContactOut],
    responses=problem_responses(422),
    summary="Contact records by client, employee, person, event or proposal, in time order",
)
async def list_contacts(
    runtime: RuntimeDep,
    _: Reader,
    cursor: Cursor,
    client_id: IdQuery = None,
    employee_id: IdQuery = None,
    person_id: IdQuery = None,
    event_id: IdQuery = None,
    proposal_id: IdQuery = None,
    limit: Limit = 50,
) -> Page[ContactOut]:
    where = RecordFilter(client_id, employee_id, person_id, event_id, proposal_id)
    page = await handlers.list_records(runtime, where, cursor=cursor.position, limit=limit)
    return Page[ContactOut](
        items=[ContactOut.of(r) for r in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.get(
    "/contacts/{contact_id}",
    response_model=ContactOut,
    responses=problem_responses(404),
    summary="One contact record",
)
async def get_contact(contact_id: IdPath, runtime: RuntimeDep, _: Reader) -> ContactOut:
    return ContactOut.of(await handlers.get_record(runtime, contact_id))


@router.get(
    "/timeline",
    response_model=CuratedTimelineOut,
    responses=problem_responses(422),
    summary="What happened with a curator's clients since a time, in time order",
    description="The timeline entries (as `GET /clients/{client_id}/timeline` gives them) "
    "after `since` of every client `curator_id` curates, oldest first (or newest first), each "
    "with its client's "
    "id and name: what changed since someone last looked, in one read.",
)
async def curated_timeline(
    runtime: RuntimeDep,
    _: Reader,
    cursor: Cursor,
    curator_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH)],
    since: DomainDateTime,
    limit: Limit = 50,
    order: Annotated[
        Literal["oldest", "newest"], Query(description="Oldest first (default) or newest first.")
    ] = "oldest",
) -> CuratedTimelineOut:
    found = await handlers.curated_timeline(
        runtime,
        curator_id,
        since,
        cursor=cursor.position,
        limit=limit,
        newest_first=order == "newest",
    )
    return CuratedTimelineOut(
        items=[
            CuratedEntryOut(
                **_entry_out(e).model_dump(),
                client_id=e.client_id,
                client_name=found.names.get(e.client_id, ""),
            )
            for e in found.page.items
        ],
        next_cursor=cursor.next(found.page.next_cursor),
        clients=len(found.names),
        clients_truncated=found.truncated,
    )


def _entry_out(e: TimelineEntry) -> TimelineEntryOut:
    return TimelineEntryOut(
        id=e.entry_id,
        at=e.at,
        kind=e.kind,
        source=e.source,
        summary=e.summary,
        refs=e.refs,
        actor=TimelineActorOut(**e.actor) if e.actor else None,
    )


@router.get(
    "/clients/{client_id}/timeline",
    response_model=Page[TimelineEntryOut],
    responses=problem_responses(404, 422),
    summary="Everything that happened with a client, in time order",
    description="The client's own history (registered, status changed, person added, curator "
    "assigned, merged: a merged client's entries move to the survivor), its contact records, "
    "and the other services' facts about it (added to an event, invited, answered, attended, "
    "questionnaire, needs identified, proposal registered, revised, won or lost, "
    "notifications), as they arrive.",
)
async def timeline(
    client_id: IdPath, runtime: RuntimeDep, _: Reader, cursor: Cursor, limit: Limit = 50
) -> Page[TimelineEntryOut]:
    page = await handlers.timeline_of(runtime, client_id, cursor=cursor.position, limit=limit)
    return Page[TimelineEntryOut](
        items=[_entry_out(e) for e in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )
