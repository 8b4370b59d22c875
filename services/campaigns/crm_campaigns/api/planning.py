"""Programmes, the plan-schedule of events (also as iCalendar), tasks, templates, estimate."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Annotated, Any

from crm_kit.clock import utc_now
from crm_kit.fields import DomainDateTime
from crm_kit.http import IdPath, IdQuery, LabelQuery
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from crm_campaigns import calendar
from crm_campaigns.api.common import Cursor, IfMatch, Limit, Reader, Writer, etag
from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.programmes import Programme
from crm_campaigns.handlers import planning as handlers
from crm_campaigns.links import FeedSigner, InvalidLink
from crm_campaigns.repository.planning import (
    CalendarFeeds,
    EventRepository,
    ProgrammeRepository,
    ScheduleFilter,
)
from crm_campaigns.schemas.common import MoneyOut, PlaceOut
from crm_campaigns.schemas.planning import (
    CalendarFeedBody,
    CalendarFeedOut,
    CalendarFeedPage,
    EventBody,
    EventOut,
    EventPage,
    EventPatch,
    PortraitOut,
    ProgrammeBody,
    ProgrammeOut,
    ProgrammePage,
    ReasonBody,
    RescheduleBody,
)
from crm_campaigns.settings import settings_of

router = APIRouter(tags=["planning"])
ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"


def money_out(m: Money | None) -> MoneyOut | None:
    return None if m is None else MoneyOut(amount_minor=m.amount_minor, currency=m.currency)


def programme_out(p: Programme) -> ProgrammeOut:
    return ProgrammeOut(
        id=p.programme_id,
        name=p.name,
        portrait=PortraitOut.model_validate(p.portrait, from_attributes=True),
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
        place=PlaceOut(venue=e.place.venue, address=e.place.address, online_url=e.place.online_url),
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
    runtime: RuntimeDep, _: Reader, cursor: Cursor, limit: Limit = 50
) -> ProgrammePage:
    page = await ProgrammeRepository(runtime).list(cursor=cursor.position, limit=limit)
    return ProgrammePage(
        items=[programme_out(p) for p in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.get("/programmes/{programme_id}", responses=problem_responses(404), summary="A programme")
async def get_programme(
    programme_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
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
    programme_id: IdPath,
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


PeriodFrom = Annotated[DomainDateTime | None, Query(alias="from", description="Period start")]
PeriodTo = Annotated[DomainDateTime | None, Query(alias="to", description="Period end")]


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
    cursor: Cursor,
    period_from: PeriodFrom = None,
    period_to: PeriodTo = None,
    kind: LabelQuery = None,
    programme_id: IdQuery = None,
    responsible_employee_id: IdQuery = None,
    event_status: Annotated[str | None, Query(alias="status", max_length=100)] = None,
    limit: Limit = 50,
) -> EventPage:
    where = _filter(
        period_from, period_to, kind, programme_id, responsible_employee_id, event_status
    )
    page = await EventRepository(runtime).list(where, cursor=cursor.position, limit=limit)
    today = utc_now().date()
    return EventPage(
        items=[event_out(e, today) for e in page.items], next_cursor=cursor.next(page.next_cursor)
    )


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
    kind: LabelQuery = None,
    programme_id: IdQuery = None,
    responsible_employee_id: IdQuery = None,
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


# -- subscribable feed links --
def _feed_signer(runtime: RuntimeDep) -> FeedSigner:
    return FeedSigner(settings_of(runtime).link_secret)


def feed_out(runtime: RuntimeDep, doc: dict[str, Any]) -> CalendarFeedOut:
    path = f"/feeds/plan-schedule/{_feed_signer(runtime).sign(doc['_id'])}.ics"
    base = settings_of(runtime).public_base_url
    url = f"{base.rstrip('/')}{path}" if base else None
    return CalendarFeedOut(
        id=doc["_id"],
        label=doc.get("label"),
        kind=doc.get("kind"),
        programme_id=doc.get("programme_id"),
        responsible_employee_id=doc.get("responsible_employee_id"),
        past_days=doc["past_days"],
        created_by=doc["created_by"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        revoked_at=doc.get("revoked_at"),
        path=path,
        url=url,
        webcal_url=("webcal://" + url.split("://", 1)[1]) if url else None,
    )


@router.post(
    "/calendar-feeds",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422),
    summary="A subscribable link to the plan-schedule for calendar programs",
    description="The link carries a signed token that reads this one feed (with its filters) "
    "and nothing else; it expires after `valid_days` and can be revoked earlier.",
)
async def create_calendar_feed(
    body: CalendarFeedBody, runtime: RuntimeDep, caller: Writer, response: Response
) -> CalendarFeedOut:
    now = utc_now()
    doc: dict[str, Any] = {
        "_id": str(uuid.uuid4()),
        "label": body.label,
        "kind": body.kind,
        "programme_id": body.programme_id,
        "responsible_employee_id": body.responsible_employee_id,
        "past_days": body.past_days,
        "created_by": caller.subject,
        "created_at": now,
        "expires_at": now + timedelta(days=body.valid_days),
        "revoked_at": None,
    }
    await CalendarFeeds(runtime).add(doc)
    response.headers["Location"] = f"/calendar-feeds/{doc['_id']}"
    return feed_out(runtime, doc)


@router.get("/calendar-feeds", summary="The calendar feed links, a page at a time")
async def list_calendar_feeds(
    runtime: RuntimeDep, _: Reader, cursor: Cursor, limit: Limit = 50
) -> CalendarFeedPage:
    page = await CalendarFeeds(runtime).list(cursor=cursor.position, limit=limit)
    return CalendarFeedPage(
        items=[feed_out(runtime, d) for d in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.delete(
    "/calendar-feeds/{feed_id}",
    responses=problem_responses(404),
    summary="Revoke a calendar feed link: it stops working at once",
)
async def revoke_calendar_feed(feed_id: IdPath, runtime: RuntimeDep, _: Writer) -> CalendarFeedOut:
    return feed_out(runtime, await CalendarFeeds(runtime).revoke(feed_id, utc_now()))


_TEXT = {"text/plain": {"schema": {"type": "string"}}}
"""A calendar client shows a plain sentence, not a problem document."""


@router.get(
    "/feeds/plan-schedule/{token}.ics",
    response_class=Response,
    responses={
        200: {"content": {"text/calendar": {}}},
        404: {"description": "Not a feed link this service made", "content": _TEXT},
        410: {"description": "The link expired or was revoked", "content": _TEXT},
    },
    summary="The plan-schedule feed behind a subscribable link (the token is the credential)",
)
async def subscribed_plan_schedule(token: str, runtime: RuntimeDep) -> Response:
    try:
        feed = await CalendarFeeds(runtime).get(_feed_signer(runtime).verify(token))
    except (InvalidLink, NotFound):
        return Response("Not a calendar link of this service.\n", 404, media_type="text/plain")
    now = utc_now()
    if feed.get("revoked_at") is not None or now >= feed["expires_at"]:
        return Response("This calendar link has expired or was withdrawn.\n", 410,
                        media_type="text/plain")  # fmt: skip
    where = ScheduleFilter(
        starts_from=now - timedelta(days=int(feed["past_days"])),
        kind=feed.get("kind"),
        programme_id=feed.get("programme_id"),
        responsible_employee_id=feed.get("responsible_employee_id"),
    )
    return Response(
        await _ics(runtime, where),
        media_type=ICS_MEDIA_TYPE,
        headers={"Cache-Control": "private, max-age=300"},
    )


@router.get("/events/{event_id}", responses=problem_responses(404), summary="An event")
async def get_event(
    event_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> EventOut:
    event = await EventRepository(runtime).get(event_id)
    etag(response, event.version)
    return event_out(event)


@router.patch(
    "/events/{event_id}",
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Change an event's title, topic, place, capacity, budget or responsible employees "
    "(If-Match; EventScheduled again at the new version)",
    description="Fields left out stay as they are; `null` clears the topic, capacity or "
    "budget. Dates move only through `POST /events/{id}/reschedule`. A capacity below the "
    "seats taken is refused (409); a higher one (or none) brings people in from the waiting "
    "list.",
)
async def amend_event(
    event_id: IdPath,
    body: EventPatch,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> EventOut:
    event = await handlers.amend_event(runtime, event_id, body, expected_version=version)
    etag(response, event.version)
    return event_out(event)


@router.post(
    "/events/{event_id}/reschedule",
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Move an event (EventRescheduled); open tasks move with it",
)
async def reschedule_event(
    event_id: IdPath,
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
    event_id: IdPath,
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
    event_id: IdPath, runtime: RuntimeDep, _: Writer, version: IfMatch, response: Response
) -> EventOut:
    event = await handlers.complete_event(runtime, event_id, expected_version=version)
    etag(response, event.version)
    return event_out(event)
