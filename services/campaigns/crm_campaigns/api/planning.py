"""Programmes, the plan-schedule of events (also as iCalendar), tasks, templates, estimate."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from crm_kit.clock import utc_now
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from crm_campaigns import calendar
from crm_campaigns.api.common import Cursor, IfMatch, Limit, Reader, Writer, etag
from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.programmes import Programme
from crm_campaigns.handlers import planning as handlers
from crm_campaigns.repository.planning import (
    EventRepository,
    ProgrammeRepository,
    ScheduleFilter,
)
from crm_campaigns.schemas.common import MoneyOut, PlaceBody
from crm_campaigns.schemas.planning import (
    EventBody,
    EventOut,
    EventPage,
    PortraitBody,
    ProgrammeBody,
    ProgrammeOut,
    ProgrammePage,
    ReasonBody,
    RescheduleBody,
)

router = APIRouter(tags=["planning"])
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


def money_out(m: Money | None) -> MoneyOut | None:
    return None if m is None else MoneyOut(amount_minor=m.amount_minor, currency=m.currency)


def programme_out(p: Programme) -> ProgrammeOut:
    return ProgrammeOut(
        id=p.programme_id,
        name=p.name,
        portrait=PortraitBody.model_validate(p.portrait, from_attributes=True),
        promoted_item_codes=list(p.promoted_item_codes),
        starts_on=p.starts_on,
        ends_on=p.ends_on,
        budget=money_out(p.budget),
        defined_at=p.defined_at,
        version=p.version,
    )


def event_out(e: MarketingEvent, today: date | None = None) -> EventOut:
    today = today or utc_now().date()
    return EventOut(
        id=e.event_id,
        kind=e.kind,
        title=e.title,
        topic=e.topic,
        place=PlaceBody(
            venue=e.place.venue, address=e.place.address, online_url=e.place.online_url
        ),
        starts_at=e.slot.starts_at,
        ends_at=e.slot.ends_at,
        timezone=e.slot.timezone,
        capacity=e.capacity,
        budget=money_out(e.budget),
        responsible_employee_ids=list(e.responsible_employee_ids),
        programme_id=e.programme_id,
        status=e.status.value,
        scheduled_at=e.scheduled_at,
        status_reason=e.status_reason,
        open_tasks=sum(1 for t in e.tasks if t.is_open),
        overdue_tasks=sum(1 for t in e.tasks if t.overdue(today)),
        version=e.version,
    )


# -- programmes --
@router.post(
    "/programmes",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422),
    summary="Define a promotion programme (ProgrammeDefined)",
)
async def define_programme(
    body: ProgrammeBody, runtime: RuntimeDep, _: Writer, response: Response
) -> ProgrammeOut:
    programme = await handlers.define_programme(runtime, body)
    response.headers["Location"] = f"/programmes/{programme.programme_id}"
    etag(response, programme.version)
    return programme_out(programme)


@router.get("/programmes", summary="Programmes, a page at a time")
async def list_programmes(
    runtime: RuntimeDep, _: Reader, cursor: Cursor = None, limit: Limit = 50
) -> ProgrammePage:
    page = await ProgrammeRepository(runtime).list(cursor=cursor, limit=limit)
    return ProgrammePage(items=[programme_out(p) for p in page.items], next_cursor=page.next_cursor)


@router.get("/programmes/{programme_id}", responses=problem_responses(404), summary="A programme")
async def get_programme(
    programme_id: str, runtime: RuntimeDep, _: Reader, response: Response
) -> ProgrammeOut:
    programme = await ProgrammeRepository(runtime).get(programme_id)
    etag(response, programme.version)
    return programme_out(programme)


@router.put(
    "/programmes/{programme_id}",
    responses=problem_responses(404, 412, 422, 428),
    summary="Redefine a programme (If-Match; ProgrammeDefined with a higher version)",
)
async def redefine_programme(
    programme_id: str,
    body: ProgrammeBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> ProgrammeOut:
    programme = await handlers.redefine_programme(
        runtime, programme_id, body, expected_version=version
    )
    etag(response, programme.version)
    return programme_out(programme)


# -- events and the plan-schedule --
@router.post(
    "/events",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 422),
    summary="Schedule an event; its preparation tasks are generated from the kind's template",
)
async def schedule_event(
    body: EventBody, runtime: RuntimeDep, _: Writer, response: Response
) -> EventOut:
    event = await handlers.schedule_event(runtime, body)
    response.headers["Location"] = f"/events/{event.event_id}"
    etag(response, event.version)
    return event_out(event)


PeriodFrom = Annotated[AwareDatetime | None, Query(alias="from", description="Period start")]
PeriodTo = Annotated[AwareDatetime | None, Query(alias="to", description="Period end")]


def _filter(
    period_from: AwareDatetime | None,
    period_to: AwareDatetime | None,
    kind: str | None,
    programme_id: str | None,
    responsible: str | None,
    status_: str | None,
) -> ScheduleFilter:
    return ScheduleFilter(period_from, period_to, kind, programme_id, responsible, status_)


@router.get("/events", summary="The plan-schedule: events by period, kind, programme, responsible")
async def list_events(
    runtime: RuntimeDep,
    _: Reader,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    kind: str | None = None,
    programme_id: str | None = None,
    responsible_employee_id: str | None = None,
    event_status: Annotated[str | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> EventPage:
    where = _filter(
        period_from, period_to, kind, programme_id, responsible_employee_id, event_status
    )
    page = await EventRepository(runtime).list(where, cursor=cursor, limit=limit)
    today = utc_now().date()
    return EventPage(items=[event_out(e, today) for e in page.items], next_cursor=page.next_cursor)


@router.get(
    "/events.ics",
    response_class=Response,
    responses={200: {"content": {"text/calendar": {}}}},
    summary="The plan-schedule as an iCalendar feed (same filters as /events)",
)
async def plan_schedule_ics(
    runtime: RuntimeDep,
    _: Reader,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    kind: str | None = None,
    programme_id: str | None = None,
    responsible_employee_id: str | None = None,
) -> Response:
    where = _filter(period_from, period_to, kind, programme_id, responsible_employee_id, None)
    return Response(await _ics(runtime, where), media_type=ICS_MEDIA_TYPE)


async def _ics(runtime: RuntimeDep, where: ScheduleFilter) -> bytes:
    repo = EventRepository(runtime)
    events: list[MarketingEvent] = []
    cursor: str | None = None
    while True:
        page = await repo.list(where, cursor=cursor, limit=500)
        events.extend(page.items)
        cursor = page.next_cursor
        if cursor is None or len(events) >= 5000:
            break
    return calendar.feed(events, domain="campaigns.crm", now=utc_now())


@router.get("/events/{event_id}", responses=problem_responses(404), summary="An event")
async def get_event(event_id: str, runtime: RuntimeDep, _: Reader, response: Response) -> EventOut:
    event = await EventRepository(runtime).get(event_id)
    etag(response, event.version)
    return event_out(event)


@router.post(
    "/events/{event_id}/reschedule",
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Move an event (EventRescheduled); open tasks move with it",
)
async def reschedule_event(
    event_id: str,
    body: RescheduleBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> EventOut:
    event = await handlers.reschedule_event(runtime, event_id, body, expected_version=version)
    etag(response, event.version)
    return event_out(event)


@router.post(
    "/events/{event_id}/cancel",
    responses=problem_responses(404, 409, 412, 428),
    summary="Cancel an event (EventCancelled); its open tasks are cancelled",
)
async def cancel_event(
    event_id: str,
    body: ReasonBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> EventOut:
    event = await handlers.cancel_event(runtime, event_id, body.reason, expected_version=version)
    etag(response, event.version)
    return event_out(event)


@router.post(
    "/events/{event_id}/complete",
    responses=problem_responses(404, 409, 412, 428),
    summary="Close an event that took place (EventCompleted)",
)
async def complete_event(
    event_id: str, runtime: RuntimeDep, _: Writer, version: IfMatch, response: Response
) -> EventOut:
    event = await handlers.complete_event(runtime, event_id, expected_version=version)
    etag(response, event.version)
    return event_out(event)
