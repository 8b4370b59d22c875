"""Scheduling an event (its kind, programme, place, time, capacity and budget), choosing whom to
invite by the programme's portrait of the client, sending the invitations, and following the
invitation run's progress as campaigns works through it (HTMX asks again each second until the
run is done)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.context import Id, SignedIn, gather, ok

router = APIRouter()
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")

FIELDS = (
    "kind",
    "programme_id",
    "title",
    "topic",
    "place-venue",
    "place-address",
    "starts_at",
    "ends_at",
    "capacity",
    "budget",
)
KNOWN = {n: n for n in FIELDS} | {"place": "place-venue", "timezone": "starts_at"}


async def _page(
    visit: SignedIn,
    typed: Mapping[str, str],
    errors: forms.FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    templates, programmes = await gather(
        visit.get("campaigns", "/task-templates"),
        visit.get("campaigns", "/programmes", {"limit": 100}),
    )
    return visit.page(
        "event_new.html",
        status=status,
        typed=typed,
        kinds=[t["kind"] for t in ok(templates, {"items": []})["items"]],
        programmes=ok(programmes, {"items": []})["items"],
        errors=errors or forms.FormErrors(),
    )


@router.get("/events/new", response_class=HTMLResponse)
async def new_event(visit: SignedIn) -> HTMLResponse:
    return await _page(visit, {})


def _body(visit: SignedIn, typed: Mapping[str, str]) -> tuple[dict[str, Any], forms.FormErrors]:
    errors = forms.FormErrors()
    times: dict[str, str | None] = {}
    for name in ("starts_at", "ends_at"):
        try:
            at = forms.local_datetime(typed[name])
            times[name] = at.isoformat() if at else None
        except ValueError:
            errors.add(name, visit._("Type a date and time."))
    capacity = budget = None
    try:
        capacity = forms.whole(typed["capacity"])
    except ValueError:
        errors.add("capacity", visit._("Type a whole number."))
    try:
        budget = forms.minor_units(typed["budget"])
    except ValueError:
        errors.add("budget", visit._("Type an amount, e.g. 1500.00."))
    me = visit.person.employee_id
    body: dict[str, Any] = {
        "kind": typed["kind"],
        "title": typed["title"],
        "topic": typed["topic"] or None,
        "place": {"venue": typed["place-venue"] or None, "address": typed["place-address"] or None},
        **times,
        "timezone": "Europe/Moscow",
        "capacity": capacity,
        "budget": {"amount_minor": budget, "currency": "RUB"} if budget is not None else None,
        "responsible_employee_ids": [me] if me else [],
        "programme_id": typed["programme_id"] or None,
    }
    return body, errors


@router.post("/events/new", response_model=None)
async def schedule_event(visit: SignedIn) -> Response:
    form = await visit.request.form()
    typed = {name: forms.text(form, name) for name in FIELDS}
    body, errors = _body(visit, typed)
    if errors:
        return await _page(visit, typed, errors, status=422)
    try:
        made = await visit.call("POST", "campaigns", "/events", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return await _page(
            visit, typed, forms.FormErrors().place(problem, KNOWN), status=problem.status
        )
    await visit.console.store.add_flash(visit.session, visit._("The event is scheduled."))
    return RedirectResponse(f"/events/{made.body['id']}", status_code=303)


async def _flash_or_problem(visit: SignedIn, event_id: str, call: Any, done: str) -> Response:
    try:
        answer = await call
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        await visit.console.store.add_flash(
            visit.session, f"{visit._(problem.title)}: {problem.detail}"
        )
        return RedirectResponse(f"/events/{event_id}", status_code=303)
    body = answer.body if isinstance(answer.body, dict) else {}
    await visit.console.store.add_flash(visit.session, done.format(**body))
    target = f"/events/{event_id}"
    if body.get("state"):
        target += f"?run={body['id']}"
    return RedirectResponse(target, status_code=303)


@router.post("/events/{event_id}/participants/by-portrait", response_model=None)
async def add_by_portrait(visit: SignedIn, event_id: Id) -> Response:
    call = visit.call("POST", "campaigns", f"/events/{event_id}/participants/by-portrait", json={})
    done = visit._("Added by the portrait: {added}; on the waiting list: {waitlisted}.")
    return await _flash_or_problem(visit, event_id, call, done)


@router.post("/events/{event_id}/invitations", response_model=None)
async def invite(visit: SignedIn, event_id: Id) -> Response:
    call = visit.call(
        "POST", "campaigns", f"/events/{event_id}/invitations", json={"statuses": ["planned"]}
    )
    done = visit._("The invitations are on their way.")
    return await _flash_or_problem(visit, event_id, call, done)


@router.get("/events/{event_id}/invitations/{run_id}", response_class=HTMLResponse)
async def invitation_run(visit: SignedIn, event_id: Id, run_id: Id) -> HTMLResponse:
    run = await visit.get("campaigns", f"/events/{event_id}/invitations/{run_id}")
    return visit.page("invitation_run.html", run=run, event_id=event_id)


@router.post("/clients/{client_id}/invite", response_model=None)
async def invite_people(visit: SignedIn, client_id: Id) -> Response:
    """Add the chosen people of a client to an event's participants (invited with the rest when
    the event's invitations go out)."""
    form = await visit.request.form()
    event_id = forms.text(form, "event_id")
    people = [p for p in form.getlist("person_id") if isinstance(p, str) and p]
    try:
        if not ID.match(event_id):
            raise ApiProblem(422, "Choose an event.", "", "", errors=[])
        if not people:
            raise ApiProblem(422, "Choose a person.", "", "", errors=[])
        answer = await visit.call(
            "POST",
            "campaigns",
            f"/events/{event_id}/participants",
            json={"people": [{"person_id": p} for p in people[:100]]},
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        detail = f": {problem.detail}" if problem.detail else ""
        await visit.console.store.add_flash(visit.session, f"{visit._(problem.title)}{detail}")
        return RedirectResponse(f"/clients/{client_id}", status_code=303)
    done = visit._("Added to the event: {added}; on the waiting list: {waitlisted}.")
    await visit.console.store.add_flash(visit.session, done.format(**answer.body))
    return RedirectResponse(f"/events/{event_id}", status_code=303)
