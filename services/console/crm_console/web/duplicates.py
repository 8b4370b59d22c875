"""Likely duplicate clients (sharing a tax id, a name, or a person's e-mail or phone, as
contacts finds them) side by side, and what to do with a pair: merge one into the other (its
people and contact records move to the survivor) or record that they are not duplicates."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web.context import SignedIn, gather, ok

router = APIRouter()

PairId = Annotated[str, Form(max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
SHOWN = 25
"""Pairs shown on a page (each client of a pair is one more call)."""


async def _page(visit: SignedIn, problem: ApiProblem | None = None, status: int = 200) -> Any:
    found = await visit.get("contacts", "/duplicates", {"limit": SHOWN})
    pairs = found["items"]
    ids = sorted({i for p in pairs for i in p["client_ids"]})
    clients = await gather(*(visit.get("contacts", f"/clients/{i}") for i in ids))
    by_id = {i: c for i, c in zip(ids, clients, strict=True) if isinstance(c, dict)}
    return visit.page(
        "duplicates.html",
        status=status,
        pairs=[{**p, "clients": [ok(by_id.get(i), None) for i in p["client_ids"]]} for p in pairs],
        problem=problem,
    )


@router.get("/clients/duplicates", response_class=HTMLResponse)
async def duplicates(visit: SignedIn) -> HTMLResponse:
    page: HTMLResponse = await _page(visit)
    return page


@router.post("/clients/duplicates/merge", response_model=None)
async def merge(visit: SignedIn, survivor: PairId, merged: PairId) -> Response:
    try:
        answer = await visit.call(
            "POST", "contacts", f"/clients/{survivor}/merge", json={"merged_client_id": merged}
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        page: Response = await _page(visit, problem, status=problem.status)
        return page
    body = answer.body
    message = visit._("Merged: {people} people and {contacts} contacts moved.").format(
        people=len(body["moved_person_ids"]), contacts=len(body["moved_contact_ids"])
    )
    await visit.console.store.add_flash(visit.session, message)
    return RedirectResponse(f"/clients/{survivor}", status_code=303)


@router.post("/clients/duplicates/dismiss", response_model=None)
async def dismiss(visit: SignedIn, first: PairId, second: PairId) -> Response:
    try:
        await visit.call(
            "POST", "contacts", "/duplicates/dismissals", json={"client_ids": [first, second]}
        )
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        page: Response = await _page(visit, problem, status=problem.status)
        return page
    await visit.console.store.add_flash(visit.session, visit._("Marked as not duplicates."))
    return RedirectResponse("/clients/duplicates", status_code=303)
