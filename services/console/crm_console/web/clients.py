"""Clients: the search with filters (results refreshed in place as one types) and the client
card: details, people with their consent per channel, curator and its history, proposals, the
messages sent to its people and the timeline across the services."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web.context import Id, SignedIn, gather, now, ok, problems_in

router = APIRouter()

STATUSES = ("potential", "active", "partner", "dealer", "former")
CHANNELS = ("email", "phone", "mobile", "fax", "pager")
MESSAGES_FOR = 10
"""People of a client whose latest messages (notify) the card shows: one call each."""
Text = Annotated[str, Query(max_length=200)]
INVITE = "/clients/{client_id}/invite"
AHEAD = timedelta(days=180)
"""Events a client's people can be invited to from the card: scheduled, in the next 180 days."""
SURVIVOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


@router.get("/clients", response_class=HTMLResponse)
async def clients(
    visit: SignedIn,
    q: Text = "",
    status: Text = "",
    tag: Text = "",
    region: Text = "",
    mine: Text = "",
    cursor: Annotated[str, Query(max_length=1024)] = "",
) -> HTMLResponse:
    filters = {
        "q": q.strip(),
        "status": status if status in STATUSES else "",
        "tag": tag.strip(),
        "region": region.strip(),
        "mine": "1" if mine and visit.person.employee_id else "",
    }
    params: dict[str, Any] = {
        "q": filters["q"],
        "status": filters["status"],
        "tag": filters["tag"],
        "region": filters["region"],
        "curator_id": visit.person.employee_id if filters["mine"] else None,
        "limit": 25,
        "cursor": cursor,
    }
    problem = None
    page: dict[str, Any] = {"items": [], "next_cursor": None}
    try:
        page = await visit.get("contacts", "/clients", params)
    except ApiProblem as exc:
        problem = exc
    partial = visit.request.headers.get("HX-Request") == "true"
    return visit.page(
        "clients_results.html" if partial else "clients.html",
        filters=filters,
        statuses=STATUSES,
        page=page,
        problem=problem,
    )


@router.get("/clients/{client_id}", response_model=None)
async def client_card(visit: SignedIn, client_id: Id) -> Response:
    try:
        client = await visit.get("contacts", f"/clients/{client_id}")
    except ApiProblem as problem:
        survivor = problem.detail.rsplit("/", 1)[-1]
        if problem.status == 301 and SURVIVOR.match(survivor):
            # Merged into another client: its card is the survivor's.
            return RedirectResponse(f"/clients/{survivor}", status_code=303)
        raise
    results = await gather(
        visit.get("contacts", f"/clients/{client_id}/people", {"limit": 100}),
        visit.get("contacts", f"/clients/{client_id}/curator"),
        visit.get("proposals", "/proposals", {"client_id": client_id, "limit": 50}),
        visit.get("contacts", f"/clients/{client_id}/timeline", {"limit": 50}),
    )
    people, curator, proposals, timeline = results
    problems = problems_in(results)
    shown = ok(people, {"items": []})["items"][:MESSAGES_FOR]
    sent = await gather(
        *(visit.get("notify", "/notifications", {"recipient": p["id"], "limit": 5}) for p in shown)
    )
    problems += problems_in(sent)[:1]
    messages = sorted(
        (
            {**n, "person": p["name"]}
            for p, page in zip(shown, sent, strict=True)
            for n in ok(page, {"items": []})["items"]
        ),
        key=lambda n: str(n.get("created_at", "")),
        reverse=True,
    )
    names = await employee_names(visit, _curator_ids(curator))
    upcoming: list[dict[str, Any]] = []
    if visit.may("POST", INVITE):
        window = {"from": now().isoformat(), "to": (now() + AHEAD).isoformat()}
        found = await gather(
            visit.get("campaigns", "/events", {**window, "status": "scheduled", "limit": 100})
        )
        problems += problems_in(found)
        upcoming = sorted(ok(found[0], {"items": []})["items"], key=lambda e: e["starts_at"])
    return visit.page(
        "client.html",
        client=client,
        people=ok(people, {"items": []})["items"],
        curator=ok(curator, None),
        proposals=ok(proposals, {"items": []})["items"],
        timeline=ok(timeline, {"items": []})["items"],
        messages=messages,
        channels=CHANNELS,
        names=names,
        problems=problems,
        upcoming=upcoming,
    )


def _curator_ids(curator: Any) -> set[str]:
    if not isinstance(curator, dict):
        return set()
    ids = {t["curator_id"] for t in curator.get("history", [])}
    if curator.get("curator_id"):
        ids.add(curator["curator_id"])
    return ids


async def employee_names(visit: SignedIn, ids: set[str]) -> dict[str, str]:
    """Employees' names by id, for the ids a page shows (an unknown one keeps its id)."""
    found = await gather(*(visit.get("contacts", f"/employees/{i}") for i in sorted(ids)))
    return {i: e["name"] for i, e in zip(sorted(ids), found, strict=True) if isinstance(e, dict)}
