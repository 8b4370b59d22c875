"""Proposals: the pipeline as a board by status, and a proposal's page (its current revision's
lines and totals, its action plan) with the discount approval for those who may approve."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import Answer, ApiProblem
from crm_console.web.clients import employee_names
from crm_console.web.context import Id, SignedIn, gather, ok, problems_in

router = APIRouter()

BOARD = ("draft", "presented", "negotiation", "won", "lost")
PER_COLUMN = 20
APPROVE = "POST /proposals/{proposal_id}/steps/{step_id}/approve"
MOVES = {
    "draft": ("presented", "withdrawn"),
    "presented": ("negotiation", "won", "withdrawn"),
    "negotiation": ("presented", "won", "withdrawn"),
}
"""The moves the proposal page offers from each status (proposals refuses any other)."""


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
    visit: SignedIn,
    proposal_id: str,
    *,
    problem: ApiProblem | None = None,
    field_problem: ApiProblem | None = None,
    problem_heading: str = "Approval refused",
    status: int = 200,
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
    models: list[dict[str, Any]] = []
    if proposal["status"] in MOVES and visit.may("POST", "/proposals/{proposal_id}/plan"):
        found = await gather(visit.get("proposals", "/sales-models", {"limit": 100}))
        models = [m for m in ok(found[0], {"items": []})["items"] if m.get("published_version")]
    steps = (plan or {}).get("steps", [])
    open_approval = any(s["approval"] and s["state"] not in ("done", "skipped") for s in steps)
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
        problem_heading=problem_heading,
        field_problem=field_problem,
        open_approval=open_approval,
        titles={s["id"]: s["title"] for s in steps},
        moves=MOVES.get(proposal["status"], ()),
        models=models,
        me=visit.person.employee_id,
    )


@router.get("/proposals/{proposal_id}", response_class=HTMLResponse)
async def proposal_page(visit: SignedIn, proposal_id: Id) -> HTMLResponse:
    return await _proposal_page(visit, proposal_id)


async def _finish_step(
    visit: SignedIn, proposal_id: str, step_id: str, *, approval: bool, done: str
) -> Response:
    """Start (if ready) and complete a step of the proposal's plan, each on the version just
    read. The service checks who may (four eyes on an approval, the assignee or their head on
    the others); its refusal is shown on the proposal's page."""
    try:
        step = await visit.call("GET", "proposals", f"/steps/{step_id}")
        if (
            step.body.get("proposal_id") != proposal_id
            or bool(step.body.get("approval")) != approval
        ):
            kind = "an approval step" if approval else "a step"
            raise ApiProblem(404, "Not found", f"step {step_id} is not {kind} of this proposal")
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
            problem_heading="Approval refused" if approval else "The step is not done",
            status=problem.status if problem.status < 500 else 502,
        )
    await visit.console.store.add_flash(visit.session, visit._(done))
    return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)


@router.post("/proposals/{proposal_id}/steps/{step_id}/approve", response_model=None)
async def approve(visit: SignedIn, proposal_id: Id, step_id: Id) -> Response:
    return await _finish_step(
        visit, proposal_id, step_id, approval=True, done="The discount is approved."
    )


@router.post("/proposals/{proposal_id}/steps/{step_id}/complete", response_model=None)
async def complete(visit: SignedIn, proposal_id: Id, step_id: Id) -> Response:
    return await _finish_step(visit, proposal_id, step_id, approval=False, done="The step is done.")


async def _acting(visit: SignedIn, proposal_id: str, act: Any, done: str) -> Response:
    """Run ``act(etag)`` on the proposal's version just read; its refusal is shown on the
    proposal's page, next to the status actions."""
    try:
        current = await visit.call("GET", "proposals", f"/proposals/{proposal_id}")
        await act(current)
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        return await _proposal_page(
            visit, proposal_id, field_problem=problem, status=problem.status
        )
    await visit.console.store.add_flash(visit.session, visit._(done))
    return RedirectResponse(f"/proposals/{proposal_id}", status_code=303)


async def _calling(
    visit: SignedIn, proposal_id: str, method: str, path: str, body: Any, done: str
) -> Response:
    """One call to proposals on the proposal's version just read."""

    async def act(current: Answer) -> None:
        await visit.call(method, "proposals", path, json=body, if_match=current.etag)

    return await _acting(visit, proposal_id, act, done)


@router.post("/proposals/{proposal_id}/approval", response_model=None)
async def ask_for_approval(visit: SignedIn, proposal_id: Id) -> Response:
    """Submit the discount for approval: an approval step, unassigned (any discount approver
    but the author and the curator may complete it), added to the plan or as the plan."""
    title = visit._("Approve the discount")

    async def act(current: Answer) -> None:
        if current.body.get("has_plan"):
            await visit.call(
                "POST",
                "proposals",
                f"/proposals/{proposal_id}/plan/steps",
                json={"title": title, "approval": True},
                if_match=current.etag,
            )
        else:
            await visit.call(
                "PUT",
                "proposals",
                f"/proposals/{proposal_id}/plan",
                json={"steps": [{"key": "approve", "title": title, "approval": True}]},
                if_match=current.etag,
            )

    return await _acting(visit, proposal_id, act, "The discount is submitted for approval.")


STATUS_DONE = {
    "presented": "The proposal is presented.",
    "negotiation": "The proposal is in negotiation.",
    "withdrawn": "The proposal is withdrawn.",
    "won": "The proposal is won.",
}


@router.post("/proposals/{proposal_id}/status", response_model=None)
async def move(
    visit: SignedIn, proposal_id: Id, to: Annotated[str, Form(max_length=20)]
) -> Response:
    if to not in STATUS_DONE:
        raise ApiProblem(422, "The request is not valid.", f"no move to {to}")

    if to == "won":
        path, body = f"/proposals/{proposal_id}/win", None
    else:
        path, body = f"/proposals/{proposal_id}/status", {"status": to}
    return await _calling(visit, proposal_id, "POST", path, body, STATUS_DONE[to])


@router.post("/proposals/{proposal_id}/loss", response_model=None)
async def lose(
    visit: SignedIn,
    proposal_id: Id,
    reason: Annotated[str, Form(max_length=2000)] = "",
    competitor: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    body = {"reason": reason.strip(), "competitor": competitor.strip() or None}
    path = f"/proposals/{proposal_id}/loss"
    return await _calling(visit, proposal_id, "POST", path, body, "The proposal is lost.")


@router.post("/proposals/{proposal_id}/plan", response_model=None)
async def plan_from_model(
    visit: SignedIn, proposal_id: Id, sales_model_id: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    """The plan generated from a published sales model (replacing any earlier plan)."""
    body = {"sales_model_id": sales_model_id}
    path = f"/proposals/{proposal_id}/plan"
    done = "The plan is generated from the sales model."
    return await _calling(visit, proposal_id, "PUT", path, body, done)
