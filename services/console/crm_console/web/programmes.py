"""Programmes: the list, and defining or redefining a programme with its target portrait of the
client (statuses, sizes, fields of activity, regions, tags), its promoted items, dates and budget.
Campaigns' refusal shows next to the field it names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.context import Id, SignedIn

router = APIRouter()

STATUSES = ("potential", "active", "partner", "dealer", "former")
SIZES = ("micro", "small", "medium", "large")
FIELDS = (
    "name",
    "starts_on",
    "ends_on",
    "budget",
    "promoted_item_codes",
    "portrait-field_of_activity_codes",
    "portrait-regions",
    "portrait-tags",
)
CHOICES = ("portrait-statuses", "portrait-sizes")
KNOWN = {n: n for n in (*FIELDS, *CHOICES)} | {"portrait": "portrait-statuses"}


def _listed(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


def typed_of(programme: Mapping[str, Any]) -> dict[str, Any]:
    """A programme from campaigns as the form shows it."""
    portrait = programme.get("portrait") or {}
    budget = programme.get("budget")
    return {
        "name": programme.get("name", ""),
        "starts_on": str(programme.get("starts_on", "")),
        "ends_on": str(programme.get("ends_on", "")),
        "budget": f"{budget['amount_minor'] / 100:.2f}" if budget else "",
        "promoted_item_codes": ", ".join(programme.get("promoted_item_codes", [])),
        "portrait-field_of_activity_codes": ", ".join(portrait.get("field_of_activity_codes", [])),
        "portrait-regions": ", ".join(portrait.get("regions", [])),
        "portrait-tags": ", ".join(portrait.get("tags", [])),
        "portrait-statuses": list(portrait.get("statuses", [])),
        "portrait-sizes": list(portrait.get("sizes", [])),
    }


def body_of(visit: SignedIn, typed: Mapping[str, Any]) -> tuple[dict[str, Any], forms.FormErrors]:
    errors = forms.FormErrors()
    dates: dict[str, str | None] = {}
    for name in ("starts_on", "ends_on"):
        try:
            dates[name] = forms.iso_date(typed[name])
        except ValueError:
            errors.add(name, visit._("Type a date."))
    budget = None
    try:
        budget = forms.minor_units(typed["budget"])
    except ValueError:
        errors.add("budget", visit._("Type an amount, e.g. 1500.00."))
    body = {
        "name": typed["name"],
        **dates,
        "budget": {"amount_minor": budget, "currency": "RUB"} if budget is not None else None,
        "promoted_item_codes": _listed(typed["promoted_item_codes"]),
        "portrait": {
            "statuses": typed["portrait-statuses"],
            "sizes": typed["portrait-sizes"],
            "field_of_activity_codes": _listed(typed["portrait-field_of_activity_codes"]),
            "regions": _listed(typed["portrait-regions"]),
            "tags": _listed(typed["portrait-tags"]),
        },
    }
    return body, errors


def _form(
    visit: SignedIn,
    typed: Mapping[str, Any],
    *,
    programme: Mapping[str, Any] | None = None,
    errors: forms.FormErrors | None = None,
    status: int = 200,
) -> HTMLResponse:
    return visit.page(
        "programme_form.html",
        status=status,
        typed=typed,
        programme=programme,
        statuses=STATUSES,
        sizes=SIZES,
        errors=errors or forms.FormErrors(),
    )


@router.get("/programmes", response_class=HTMLResponse)
async def programmes(visit: SignedIn) -> HTMLResponse:
    problem = None
    items: list[dict[str, Any]] = []
    try:
        items = (await visit.get("campaigns", "/programmes", {"limit": 100}))["items"]
    except ApiProblem as exc:
        problem = exc
    items.sort(key=lambda p: str(p["starts_on"]), reverse=True)
    return visit.page("programmes.html", programmes=items, problem=problem)


@router.get("/programmes/new", response_class=HTMLResponse)
async def new_programme(visit: SignedIn) -> HTMLResponse:
    return _form(visit, typed_of({}))


@router.get("/programmes/{programme_id}", response_class=HTMLResponse)
async def edit_programme(visit: SignedIn, programme_id: Id) -> HTMLResponse:
    programme = await visit.get("campaigns", f"/programmes/{programme_id}")
    return _form(visit, typed_of(programme), programme=programme)


async def _read(visit: SignedIn) -> dict[str, Any]:
    form = await visit.request.form()
    typed: dict[str, Any] = {name: forms.text(form, name) for name in FIELDS}
    typed["portrait-statuses"] = [s for s in form.getlist("portrait-statuses") if s in STATUSES]
    typed["portrait-sizes"] = [s for s in form.getlist("portrait-sizes") if s in SIZES]
    return typed


async def _save(
    visit: SignedIn, typed: Mapping[str, Any], programme: Mapping[str, Any] | None
) -> Response:
    body, errors = body_of(visit, typed)
    if errors:
        return _form(visit, typed, programme=programme, errors=errors, status=422)
    try:
        if programme is None:
            await visit.call("POST", "campaigns", "/programmes", json=body)
        else:
            await visit.call(
                "PUT",
                "campaigns",
                f"/programmes/{programme['id']}",
                json=body,
                if_match=f'"{programme["version"]}"',
            )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        placed = forms.FormErrors().place(problem, KNOWN)
        return _form(visit, typed, programme=programme, errors=placed, status=problem.status)
    await visit.console.store.add_flash(visit.session, visit._("The programme is saved."))
    return RedirectResponse("/programmes", status_code=303)


@router.post("/programmes/new", response_model=None)
async def define_programme(visit: SignedIn) -> Response:
    return await _save(visit, await _read(visit), None)


@router.post("/programmes/{programme_id}", response_model=None)
async def redefine_programme(visit: SignedIn, programme_id: Id) -> Response:
    typed = await _read(visit)
    programme = await visit.get("campaigns", f"/programmes/{programme_id}")
    # The version the form was read at: a change made meanwhile is refused (412), not overwritten.
    read_at = forms.text(await visit.request.form(), "version")
    if read_at.isdigit():
        programme = {**programme, "version": int(read_at)}
    return await _save(visit, typed, programme)
