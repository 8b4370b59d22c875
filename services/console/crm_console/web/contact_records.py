"""Recording a contact with a client: a meeting, a call, a letter… with one of its people, what
was said, the outcome and the needs heard (catalogue codes and tags: the market needs report
counts them). contacts records it as the signed-in person's employee."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.context import Id, SignedIn, gather, now, ok

router = APIRouter()

KINDS = ("meeting", "call", "email", "letter", "event_talk", "service_visit", "other")
DIRECTIONS = ("outbound", "inbound")
FIELDS = (
    "person_id",
    "kind",
    "direction",
    "occurred_at",
    "summary",
    "outcome",
    "need_item_codes",
    "need_tags",
    "proposal_id",
    "event_id",
    "employee_id",
)
RECENT = timedelta(days=60)
"""Events offered to link a contact to: those of the last 60 days and the next 60."""


def _codes(value: str) -> list[str]:
    return [c.strip() for c in value.replace(";", ",").split(",") if c.strip()]


async def _page(
    visit: SignedIn,
    client: Mapping[str, Any],
    typed: Mapping[str, str],
    errors: forms.FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    around = {"from": (now() - RECENT).isoformat(), "to": (now() + RECENT).isoformat()}
    people, proposals, events = await gather(
        visit.get("contacts", f"/clients/{client['id']}/people", {"limit": 100}),
        visit.get("proposals", "/proposals", {"client_id": client["id"], "limit": 50}),
        visit.get("campaigns", "/events", {**around, "limit": 100}),
    )
    return visit.page(
        "contact_new.html",
        status=status,
        client=client,
        typed=typed,
        people=ok(people, {"items": []})["items"],
        proposals=ok(proposals, {"items": []})["items"],
        events=sorted(ok(events, {"items": []})["items"], key=lambda e: e["starts_at"]),
        kinds=KINDS,
        directions=DIRECTIONS,
        errors=errors or forms.FormErrors(),
    )


@router.get("/clients/{client_id}/contacts/new", response_class=HTMLResponse)
async def new_contact(visit: SignedIn, client_id: Id) -> HTMLResponse:
    client = await visit.get("contacts", f"/clients/{client_id}")
    typed = {"occurred_at": forms.local_input(now().isoformat()), "kind": "meeting"}
    return await _page(visit, client, typed)


@router.post("/clients/{client_id}/contacts/new", response_model=None)
async def record_contact(visit: SignedIn, client_id: Id) -> Response:
    client = await visit.get("contacts", f"/clients/{client_id}")
    form = await visit.request.form()
    typed = {name: forms.text(form, name) for name in FIELDS}
    errors = forms.FormErrors()
    try:
        occurred = forms.local_datetime(typed["occurred_at"])
    except ValueError:
        occurred = None
        errors.add("occurred_at", visit._("Type a date and time."))
    if errors:
        return await _page(visit, client, typed, errors, status=422)
    body = {
        "client_id": client_id,
        "person_id": typed["person_id"] or None,
        "employee_id": visit.person.employee_id or "",
        "kind": typed["kind"],
        "direction": typed["direction"] or "outbound",
        "occurred_at": occurred.isoformat() if occurred else None,
        "summary": typed["summary"],
        "outcome": typed["outcome"] or None,
        "need_item_codes": _codes(typed["need_item_codes"]),
        "need_tags": _codes(typed["need_tags"]),
        "proposal_id": typed["proposal_id"] or None,
        "event_id": typed["event_id"] or None,
    }
    try:
        await visit.call("POST", "contacts", "/contacts", json=body)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        placed = forms.FormErrors().place(problem, {n: n for n in FIELDS})
        return await _page(visit, client, typed, placed, status=problem.status)
    await visit.console.store.add_flash(visit.session, visit._("The contact is recorded."))
    return RedirectResponse(f"/clients/{client_id}", status_code=303)
