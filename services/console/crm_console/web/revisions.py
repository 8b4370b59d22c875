"""A proposal's revisions side by side: any two of them (by default the one before the current
and the current), line by line, with what changed marked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from crm_console.web.context import Id, SignedIn

router = APIRouter()

FIGURES = ("quantity", "unit_price", "discount", "line_total")
TOTALS = ("subtotal", "discount", "total")
Number = Annotated[int, Query(ge=0, le=2**31 - 1)]


def _line_key(line: dict[str, Any]) -> str:
    return str(line["item_code"])


def side_by_side(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of (left line, right line) by item code, in the right revision's order and then the
    lines only the left one has; ``changed`` names the figures that differ."""
    lefts = {_line_key(li): li for li in left["lines"]}
    rights = {_line_key(li): li for li in right["lines"]}
    order = [*rights, *(k for k in lefts if k not in rights)]
    rows = []
    for key in order:
        a, b = lefts.get(key), rights.get(key)
        changed = {f for f in FIGURES if a is None or b is None or a[f] != b[f]}
        rows.append({"code": key, "left": a, "right": b, "changed": changed})
    return rows


@router.get("/proposals/{proposal_id}/revisions", response_class=HTMLResponse)
async def revisions(
    visit: SignedIn, proposal_id: Id, left: Number = 0, right: Number = 0
) -> HTMLResponse:
    proposal = await visit.get("proposals", f"/proposals/{proposal_id}")
    every = await visit.get("proposals", f"/proposals/{proposal_id}/revisions")
    numbers = [r["revision"] for r in every]
    by_number = {r["revision"]: r for r in every}
    right_n = right if right in by_number else numbers[-1]
    left_n = left if left in by_number else (numbers[-2] if len(numbers) > 1 else numbers[-1])
    a, b = by_number[left_n], by_number[right_n]
    return visit.page(
        "revisions.html",
        proposal=proposal,
        numbers=numbers,
        left=a,
        right=b,
        rows=side_by_side(a, b),
        changed_totals={k for k in TOTALS if a["totals"][k] != b["totals"][k]},
    )
