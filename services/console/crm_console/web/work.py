"""My work: the plan steps and event tasks assigned to me, overdue first, and my clients as
their curator. Everything is read from the services with the person's own token."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crm_kit.access import DISCOUNT_APPROVER
from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from crm_console.apis import ApiProblem
from crm_console.web.context import SignedIn, gather, now, ok, problems_in

router = APIRouter()

OPEN_PROPOSALS = ("draft", "presented", "negotiation")
LOOK_BACK = timedelta(days=60)
"""Events that started this long ago may still have open tasks worth showing."""
MOST = 25
"""Proposals and events looked into for my steps and tasks (each is one more call)."""


def overdue_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overdue first, then by due date (none last), then by title."""
    today = date.today().isoformat()

    def key(item: dict[str, Any]) -> tuple[int, str, str]:
        due = item.get("due_on") or ""
        late = bool(item.get("overdue")) or (bool(due) and due < today)
        item["late"] = late
        return (0 if late else 1, due or "9999-12-31", str(item.get("title", "")))

    return sorted(items, key=key)


async def _my_steps(visit: SignedIn, me: str) -> list[dict[str, Any]]:
    page = await visit.get("proposals", "/proposals", {"curator_id": me, "limit": MOST})
    proposals = [p for p in page["items"] if p["status"] in OPEN_PROPOSALS and p["has_plan"]]
    plans = await gather(*(visit.get("proposals", f"/proposals/{p['id']}/plan") for p in proposals))
    steps = []
    for proposal, plan in zip(proposals, plans, strict=True):
        if isinstance(plan, ApiProblem):
            continue
        for step in plan["steps"]:
            mine = step.get("assignee_id") in (me, None)
            # An unassigned approval is work only for those who may approve it.
            if step.get("approval") and not step.get("assignee_id"):
                mine = visit.person.has(DISCOUNT_APPROVER)
            if mine and step["state"] not in ("done", "skipped"):
                steps.append({**step, "proposal": proposal})
    return overdue_first(steps)


async def _my_tasks(visit: SignedIn, me: str) -> list[dict[str, Any]]:
    since = (now() - LOOK_BACK).isoformat()
    page = await visit.get(
        "campaigns",
        "/events",
        {"responsible_employee_id": me, "from": since, "limit": MOST},
    )
    events = [e for e in page["items"] if e.get("open_tasks")]
    lists = await gather(*(visit.get("campaigns", f"/events/{e['id']}/tasks") for e in events))
    tasks = []
    for event, found in zip(events, lists, strict=True):
        if isinstance(found, ApiProblem):
            continue
        for task in found["items"]:
            if task["status"] in ("open", "in_progress") and task.get("assignee_id") in (me, None):
                tasks.append({**task, "event": event})
    return overdue_first(tasks)


async def _awaiting_approval(visit: SignedIn) -> list[dict[str, Any]]:
    """Open proposals whose discount waits for an approval (for those who may give it)."""
    if not visit.person.has(DISCOUNT_APPROVER):
        return []
    pages = await gather(
        *(
            visit.get("proposals", "/proposals", {"status": status, "limit": 50})
            for status in OPEN_PROPOSALS
        )
    )
    for page in pages:
        if isinstance(page, ApiProblem):
            raise page
    return [p for page in pages for p in page["items"] if p.get("approval_pending")]


async def _nothing() -> Any:
    return None


@router.get("/", response_class=HTMLResponse)
async def my_work(visit: SignedIn) -> HTMLResponse:
    me = visit.person.employee_id
    results = await gather(
        _my_steps(visit, me) if me else _nothing(),
        _my_tasks(visit, me) if me else _nothing(),
        visit.get("contacts", "/clients", {"curator_id": me, "limit": 50}) if me else _nothing(),
        _awaiting_approval(visit),
    )
    steps, tasks, clients, approvals = results
    return visit.page(
        "work.html",
        linked=me is not None,
        steps=ok(steps, None) or [],
        tasks=ok(tasks, None) or [],
        clients=(ok(clients, None) or {"items": []})["items"],
        approvals=ok(approvals, []),
        problems=problems_in(results),
    )
