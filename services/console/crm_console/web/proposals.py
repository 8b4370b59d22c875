"""Proposals: the pipeline as a board by status, and a proposal's page (its current revision's
lines and totals, its action plan) with the discount approval for those who may approve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web.clients import employee_names
from crm_console.web.context import Id, SignedIn, gather, ok, problems_in

router = APIRouter()

BOARD = ("draft", "presented", "negotiation", "won", "lost")
PER_COLUMN = 20
APPROVE = "POST /proposals/{proposal_id}/steps/{step_id}/approve"


async def client_names(visit: SignedIn, ids: set[str]) -> dict[str, str]:
    found = await gather(*(visit.get("contacts", f"/clients/{i}") for i in sorted(ids)))
    return {i: c["name"] for i, c in zip(sorted(ids), found, strict=True) if isinstance(c, dict)}


@router.get("/proposals", response_class=HTMLResponse)
async def board(visit: SignedIn) -> HTMLResponse:
    columns = await gather(
        *(visit.get("proposals", "/proposals", {"status": s, "limit": PER_COLUMN}) for s in BOARD)
    )
    problems = problems_in(columns)
    board = {
        status: ok(c, {"items": []})["items"] for status, c in zip(BOARD, columns, strict=True)
    }
    names = await client_names(visit, {p["client_id"] for ps in board.values() for p in ps})
    return visit.page("proposals.html", board=board, names=names, problems=problems)


async def _proposal_page(
    visit: SignedIn, proposal_id: str, *, problem: ApiProblem | None = None, status: int = 200
) -> HTMLResponse:
    proposal = await visit.get("proposals", f"/proposals/{proposal_id}")
    plan: dict[str, Any] | None = None
    if proposal.get("has_plan"):
        plan = await visit.get("proposals", f"/proposals/{proposal_id}/plan")
    clients = await client_names(visit, {proposal["client_id"]})
    people = {proposal["curator_id"]}
    for step in (plan or {}).get("steps", []):
        people |= {p for p in (step.get("assignee_id"), step.get("completed_by")) if p}
    names = await employee_names(visit, people)
    may_approve = visit.may("POST", "/proposals/{proposal_id}/steps/{step_id}/approve")
    return visit.page(
        "proposal.html",
        status=status,
        proposal=proposal,
        revision=proposal["revision"],
        plan=plan,
        client_name=clients.get(proposal["client_id"], proposal["client_id"]),
        names=names,
        may_approve=may_approve,
        problem=problem,
    )


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
async def proposal_page(visit: SignedIn, proposal_id: Id) -> HTMLResponse:
    return await _proposal_page(visit, proposal_id)


@router.post("/proposals/{proposal_id}/steps/{step_id}/approve", response_model=None)
async def approve(visit: SignedIn, proposal_id: Id, step_id: Id) -> Response:
    """Start (if ready) and complete the approval step, each on the version just read. The
    service checks four eyes; its refusal is shown on the proposal's page."""
    try:
        step = await visit.call("GET", "proposals", f"/steps/{step_id}")
        if step.body.get("proposal_id") != proposal_id or not step.body.get("approval"):
            raise ApiProblem(
                404, "Not found", f"step {step_id} is no approval step of this proposal"
            )
        etag = step.etag
        if step.body["state"] == "ready":
            started = await visit.call(
                "POST", "proposals", f"/steps/{step_id}/start", if_match=etag
            )
            etag = started.etag
        await visit.call("POST", "proposals", f"/steps/{step_id}/complete", if_match=etag)
    except ApiProblem as problem:
        return await _proposal_page(
            visit,
            proposal_id,
            problem=problem,
            status=problem.status if problem.status < 500 else 502,
        )
    await visit.console.store.add_flash(visit.session, visit._("The discount is approved."))
    return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)
