"""My work: the plan steps and event tasks assigned to me, overdue first, my clients as their
curator, and what changed since I last looked: my clients' timelines (contacts, events,
proposals, messages) and the steps others completed on my proposals' plans, since the time I
last marked them seen (a week back at first). Everything is read from the services with the
person's own token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crm_kit.access import DISCOUNT_APPROVER
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web.context import SignedIn, gather, now, ok, problems_in

router = APIRouter()

OPEN_PROPOSALS = ("draft", "presented", "negotiation")
LOOK_BACK = timedelta(days=60)
"""Events that started this long ago may still have open tasks worth showing."""
MOST = 25
"""Curated proposals and events looked into for unassigned steps and tasks (each is one more
call)."""
TIMELINE_PAGES = 5
FIRST_LOOK = timedelta(days=7)
CHANGES_SHOWN = 30


def overdue_first(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overdue first, then by due date (none last), then by title."""
    today = date.today().isoformat()

    def key(item: dict[str, Any]) -> tuple[int, str, str]:
        due = item.get("due_on") or ""
        late = bool(item.get("overdue")) or (bool(due) and due < today)
        item["late"] = late
        return (0 if late else 1, due or "9999-12-31", str(item.get("title", "")))

    return sorted(items, key=key)


@dataclass
class Mine:
    steps: list[dict[str, Any]]
    done_by_others: list[dict[str, Any]]
    truncated: bool
    """proposals said there are more steps assigned to me than one list holds."""


@dataclass
class Tasks:
    tasks: list[dict[str, Any]]
    truncated: bool


async def _my_steps(visit: SignedIn, me: str, since: datetime) -> Mine:
    """The open steps assigned to me on any proposal (proposals' ``GET /steps``), the
    unassigned ones of the proposals I curate (an unassigned approval only for those who may
    give it), and the steps others completed on my proposals since ``since``."""
    assigned, page = await gather(
        visit.get("proposals", "/steps", {"assignee_id": me}),
        visit.get("proposals", "/proposals", {"curator_id": me, "limit": MOST}),
    )
    if isinstance(assigned, ApiProblem):
        raise assigned
    steps = {
        s["id"]: {**s, "proposal": {"id": s["proposal_id"], "title": s["proposal_title"]}}
        for s in assigned["items"]
    }
    if isinstance(page, ApiProblem):
        raise page
    proposals = [p for p in page["items"] if p["status"] in OPEN_PROPOSALS and p["has_plan"]]
    plans = await gather(*(visit.get("proposals", f"/proposals/{p['id']}/plan") for p in proposals))
    done: list[dict[str, Any]] = []
    for proposal, plan in zip(proposals, plans, strict=True):
        if isinstance(plan, ApiProblem):
            continue
        for step in plan["steps"]:
            at = _when(step.get("completed_at"))
            if at is not None and at > since and step.get("completed_by") != me:
                done.append(
                    {
                        "at": at,
                        "what": step["title"],
                        "state": step["state"],
                        "title": proposal["revision"]["title"],
                        "href": f"/proposals/{proposal['id']}",
                    }
                )
            if step.get("assignee_id") or step["state"] in ("done", "skipped"):
                continue
            # An unassigned approval is work only for those who may approve it.
            if not step.get("approval") or visit.person.has(DISCOUNT_APPROVER):
                steps[step["id"]] = {
                    **step,
                    "proposal": {"id": proposal["id"], "title": proposal["revision"]["title"]},
                }
    return Mine(overdue_first(list(steps.values())), done, assigned["truncated"])


def _when(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


async def _changes(visit: SignedIn, me: str, since: datetime) -> list[dict[str, Any]]:
    """What happened with my clients after ``since`` (contacts' ``GET /timeline`` over every
    client I curate, newest first, a few pages at most)."""
    entries: list[dict[str, Any]] = []
    cursor = None
    for _ in range(TIMELINE_PAGES):
        page = await visit.get(
            "contacts",
            "/timeline",
            {
                "curator_id": me,
                "since": since.isoformat(),
                "order": "newest",
                "limit": 200,
                "cursor": cursor,
            },
        )
        for e in page["items"]:
            entries.append(
                {
                    "at": _when(e["at"]),
                    "what": e["summary"],
                    "title": e["client_name"],
                    "href": f"/clients/{e['client_id']}",
                }
            )
        cursor = page.get("next_cursor")
        if not cursor:
            break
    return entries


async def _my_tasks(visit: SignedIn, me: str) -> Tasks:
    """The open tasks assigned to me on any event (campaigns' ``GET /tasks``), and the
    unassigned open tasks of the recent events I am responsible for."""
    since = (now() - LOOK_BACK).isoformat()
    assigned, page = await gather(
        visit.get("campaigns", "/tasks", {"assignee_id": me}),
        visit.get(
            "campaigns", "/events", {"responsible_employee_id": me, "from": since, "limit": MOST}
        ),
    )
    if isinstance(assigned, ApiProblem):
        raise assigned
    tasks = {
        t["id"]: {**t, "event": {"id": t["event_id"], "title": t["event_title"]}}
        for t in assigned["items"]
    }
    if isinstance(page, ApiProblem):
        raise page
    events = [e for e in page["items"] if e.get("open_tasks")]
    lists = await gather(*(visit.get("campaigns", f"/events/{e['id']}/tasks") for e in events))
    for event, found in zip(events, lists, strict=True):
        if isinstance(found, ApiProblem):
            continue
        for task in found["items"]:
            if task["status"] in ("open", "in_progress") and not task.get("assignee_id"):
                tasks[task["id"]] = {**task, "event": {"id": event["id"], "title": event["title"]}}
    return Tasks(overdue_first(list(tasks.values())), assigned["truncated"])


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
    looked = await visit.console.store.looked_at(visit.person.subject)
    since = looked or now() - FIRST_LOOK
    results = await gather(
        _my_steps(visit, me, since) if me else _nothing(),
        _my_tasks(visit, me) if me else _nothing(),
        visit.get("contacts", "/clients", {"curator_id": me, "limit": 50}) if me else _nothing(),
        _awaiting_approval(visit),
    )
    mine, tasks, clients, approvals = results
    my_clients = (ok(clients, None) or {"items": []})["items"]
    changes = await gather(_changes(visit, me, since) if me else _nothing())
    done = mine.done_by_others if isinstance(mine, Mine) else []
    changed = sorted([*(ok(changes[0], None) or []), *done], key=lambda c: c["at"], reverse=True)
    return visit.page(
        "work.html",
        linked=me is not None,
        steps=mine.steps if isinstance(mine, Mine) else [],
        tasks=tasks.tasks if isinstance(tasks, Tasks) else [],
        more_work=(isinstance(mine, Mine) and mine.truncated)
        or (isinstance(tasks, Tasks) and tasks.truncated),
        clients=my_clients,
        approvals=ok(approvals, []),
        changes=changed[:CHANGES_SHOWN],
        more_changes=max(len(changed) - CHANGES_SHOWN, 0),
        since=since,
        first_look=looked is None,
        problems=problems_in([*results, *changes]),
    )


@router.post("/seen", response_model=None)
async def mark_seen(visit: SignedIn) -> Response:
    """What changed until now is seen: My work shows what changes after this."""
    await visit.console.store.mark_looked(visit.person.subject, now())
    return RedirectResponse("/", status_code=303)
