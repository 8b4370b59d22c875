"""Events: the plan-schedule by month (with the month as an iCalendar file), and an event's
page: its preparation tasks, its participants by status and the check-in desk by code."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.i18n import ZONE
from crm_console.web.clients import employee_names
from crm_console.web.context import Id, SignedIn, gather, ok, problems_in
from crm_console.web.questionnaire import TEXTS_SHOWN, results_path, shown

router = APIRouter()

STATUSES = (
    "attended",
    "accepted",
    "delivered",
    "invited",
    "planned",
    "waitlisted",
    "declined",
    "failed",
    "no_show",
)
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
Month = Annotated[str, Query(max_length=7)]
Week = Annotated[str, Query(max_length=10)]


def month_of(text: str) -> date:
    found = MONTH.match(text or "")
    today = date.today()
    if not found:
        return today.replace(day=1)
    year = int(found.group(1))
    if not 1970 <= year <= 2200:
        return today.replace(day=1)
    return date(year, int(found.group(2)), 1)


def shift(month: date, by: int) -> date:
    index = month.year * 12 + month.month - 1 + by
    return date(index // 12, index % 12 + 1, 1)


def week_of(text: str) -> date:
    """The Monday of the week holding ``text`` (an ISO date), this week's when it is not one."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        day = datetime.now(ZONE).date()
    if not 1970 <= day.year <= 2200:
        day = datetime.now(ZONE).date()
    return day - timedelta(days=day.weekday())


def week_days(monday: date, events: list[dict[str, Any]]) -> list[tuple[date, list[Any]]]:
    """The seven days from ``monday``, each with its events (by their start in Moscow)."""
    days: dict[date, list[Any]] = {monday + timedelta(days=n): [] for n in range(7)}
    for event in events:
        starts = datetime.fromisoformat(str(event["starts_at"]).replace("Z", "+00:00"))
        days.setdefault(starts.astimezone(ZONE).date(), []).append(event)
    return [(day, days[day]) for day in sorted(days) if monday <= day < monday + timedelta(7)]


def _day_in(month: date) -> date:
    """Today when it falls in ``month``, else the month's first day (where its week view opens)."""
    today = datetime.now(ZONE).date()
    return today if today.replace(day=1) == month else month


def _week_period(monday: date) -> dict[str, str]:
    start = datetime(monday.year, monday.month, monday.day, tzinfo=ZONE)
    return {"from": start.isoformat(), "to": (start + timedelta(days=7)).isoformat()}


def _period(month: date) -> dict[str, str]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    after = shift(month, 1)
    end = datetime(after.year, after.month, 1, tzinfo=UTC)
    return {"from": start.isoformat(), "to": end.isoformat()}


@router.get("/events", response_class=HTMLResponse)
async def plan_schedule(visit: SignedIn, month: Month = "", week: Week = "") -> HTMLResponse:
    return await _plan_schedule(visit, month, week=week)


@router.post("/events/calendar-feed", response_class=HTMLResponse)
async def calendar_feed(
    visit: SignedIn, month: Annotated[str, Form(max_length=7)] = ""
) -> HTMLResponse:
    """A subscribable iCalendar link to the plan-schedule, made by campaigns for this person
    (a calendar program cannot sign in: the link's own token reads that feed and nothing else)."""
    try:
        feed = await visit.call(
            "POST",
            "campaigns",
            "/calendar-feeds",
            json={"label": f"{visit.person.name} (console)"[:200]},
        )
    except ApiProblem as exc:
        return await _plan_schedule(visit, month, problem=exc)
    body = feed.body
    url = body.get("url") or campaigns_public(visit, body["path"])
    return await _plan_schedule(visit, month, feed_url=url)


def campaigns_public(visit: SignedIn, path: str) -> str:
    """A path of campaigns' public pages (a feed, a questionnaire) as an address to hand out."""
    base = visit.console.settings.campaigns_public_url or visit.console.settings.campaigns_url
    return f"{base.rstrip('/')}{path}"


async def _plan_schedule(
    visit: SignedIn,
    month: str,
    *,
    problem: ApiProblem | None = None,
    feed_url: str | None = None,
    week: str = "",
) -> HTMLResponse:
    monday = week_of(week) if week else None
    first = month_of(month) if monday is None else monday.replace(day=1)
    period = _period(first) if monday is None else _week_period(monday)
    events: list[dict[str, Any]] = []
    try:
        page = await visit.get("campaigns", "/events", {**period, "limit": 200})
        events = sorted(page["items"], key=lambda e: e["starts_at"])
    except ApiProblem as exc:
        problem = problem or exc
    weekly: dict[str, Any] = {}
    if monday is not None:
        weekly = {
            "monday": monday,
            "days": week_days(monday, events),
            "previous_week": (monday - timedelta(days=7)).isoformat(),
            "following_week": (monday + timedelta(days=7)).isoformat(),
        }
    return visit.page(
        "events.html",
        events=events,
        week=weekly,
        this_week=(monday or week_of(_day_in(first).isoformat())).isoformat(),
        month=first,
        previous=shift(first, -1).strftime("%Y-%m"),
        following=shift(first, 1).strftime("%Y-%m"),
        this=first.strftime("%Y-%m"),
        problem=problem,
        feed_url=feed_url,
    )


@router.get("/events/calendar.ics", response_model=None)
async def plan_schedule_ics(visit: SignedIn, month: Month = "") -> Response:
    first = month_of(month)
    answer = await visit.console.apis.raw(
        await visit.token(), "campaigns", "/events.ics", _period(first)
    )
    return Response(
        answer.content,
        media_type="text/calendar; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="plan-schedule-{first:%Y-%m}.ics"',
            "Cache-Control": "no-store",
        },
    )


async def _event_page(
    visit: SignedIn, event_id: str, *, result: str | None = None, problem: ApiProblem | None = None
) -> dict[str, Any]:
    event = await visit.get("campaigns", f"/events/{event_id}")
    results = await gather(
        visit.get("campaigns", f"/events/{event_id}/tasks"),
        visit.get("campaigns", f"/events/{event_id}/participants", {"limit": 200}),
        visit.get("campaigns", f"/events/{event_id}/effectiveness"),
        visit.get("campaigns", f"/events/{event_id}/questionnaire"),
        visit.get("campaigns", results_path(event_id), {"limit": TEXTS_SHOWN}),
    )
    tasks, participants, effectiveness, questionnaire, answers = results
    # An event without a questionnaire answers 404 (and so do its results): nothing to show,
    # not a failure.
    problems = [
        p
        for p in problems_in(results)
        if not ((p is questionnaire or p is answers) and p.status == 404)
    ]
    by_status: dict[str, list[dict[str, Any]]] = {s: [] for s in STATUSES}
    for p in ok(participants, {"items": []})["items"]:
        by_status.setdefault(p["status"], []).append(p)
    names = await employee_names(visit, set(event.get("responsible_employee_ids", [])))
    return {
        "event": event,
        "tasks": ok(tasks, {"items": []})["items"],
        "effectiveness": ok(effectiveness, None),
        "questionnaire": ok(questionnaire, None),
        "answers": shown(ok(answers, None)),
        "questionnaire_url": campaigns_public(visit, questionnaire["anonymous_link"])
        if isinstance(questionnaire, dict) and questionnaire.get("anonymous_link")
        else None,
        "by_status": {s: ps for s, ps in by_status.items() if ps},
        "names": names,
        "problems": problems,
        "result": result,
        "problem": problem,
        "may_check_in": visit.may("POST", "/events/{event_id}/check-in"),
        "may_invite": visit.may("POST", "/events/{event_id}/invitations"),
    }


RunId = Annotated[str, Query(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]


@router.get("/events/{event_id}", response_class=HTMLResponse)
async def event_page(visit: SignedIn, event_id: Id, run: RunId = "") -> HTMLResponse:
    context = await _event_page(visit, event_id)
    if run:
        context["run"] = ok(
            (await gather(visit.get("campaigns", f"/events/{event_id}/invitations/{run}")))[0],
            None,
        )
    return visit.page("event.html", **context)


@router.post("/events/{event_id}/check-in", response_model=None)
async def check_in(
    visit: SignedIn, event_id: Id, code: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    partial = visit.request.headers.get("HX-Request") == "true"
    result, problem = None, None
    try:
        if not code.strip():
            raise ApiProblem(422, "Check-in code missing", "Type the guest's check-in code.")
        answer = await visit.call(
            "POST", "campaigns", f"/events/{event_id}/attendance", json={"code": code.strip()}
        )
        who = answer.body.get("name") or answer.body.get("id")
        result = f"{who}: {visit._('checked in')}"
    except ApiProblem as exc:
        problem = exc
    if partial:
        return visit.page("check_in_result.html", result=result, problem=problem)
    if result is not None:
        await visit.console.store.add_flash(visit.session, result)
        return RedirectResponse(f"/events/{event_id}", status_code=303)
    context = await _event_page(visit, event_id, problem=problem)
    status = problem.status if problem is not None and problem.status < 500 else 502
    return visit.page("event.html", status=status, **context)
