"""The proposal editor: lines from the catalogue with their prices and discounts, the people
taking part on both sides, the validity and the title; its totals follow the typing (HTMX posts
the form to ``/proposals/preview``). A new proposal is registered, a draft is edited in place and
a presented one is revised (a new revision, with its reason): proposals decides and prices, the
preview only shows what it will come to (the same rule: a percentage per line on its gross,
rounded half up to a whole minor unit)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any

from babel.numbers import get_currency_precision
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.context import Id, SignedIn, gather, ok

router = APIRouter()

BLANK_LINES = 1
"""Empty line rows offered after the lines already there ("Add a line" adds one more)."""
BLANK_PARTIES = 2
MAX_ROWS = 100
REVISABLE = ("presented", "negotiation")
FULL_PERCENT_BP = 10_000


@dataclass
class LineRow:
    item_code: str = ""
    quantity: str = ""
    unit_price: str = ""
    discount: str = ""


@dataclass
class PartyRow:
    who: str = ""
    role: str = ""


@dataclass
class Editor:
    """What the form holds, as typed."""

    title: str = ""
    valid_until: str = ""
    preferences: str = ""
    reason: str = ""
    lines: list[LineRow] = field(default_factory=list)
    parties: list[PartyRow] = field(default_factory=list)

    def padded(self, more: int = 0) -> Editor:
        lines = [*self.lines, *(LineRow() for _ in range(BLANK_LINES + more))][:MAX_ROWS]
        if not self.lines and lines:
            lines[0].quantity = lines[0].quantity or "1"
        parties = [*self.parties, *(PartyRow() for _ in range(BLANK_PARTIES))][:MAX_ROWS]
        return Editor(self.title, self.valid_until, self.preferences, self.reason, lines, parties)


def _rows(form: Mapping[str, Any], prefix: str) -> int:
    try:
        return max(0, min(int(forms.text(form, f"{prefix}_rows") or 0), MAX_ROWS))
    except ValueError:
        return 0


def read_editor(form: Mapping[str, Any]) -> Editor:
    t = forms.text
    lines = [
        LineRow(
            t(form, f"lines-{i}-item_code"),
            t(form, f"lines-{i}-quantity"),
            t(form, f"lines-{i}-unit_price"),
            t(form, f"lines-{i}-discount"),
        )
        for i in range(_rows(form, "lines"))
    ]
    parties = [
        PartyRow(t(form, f"participants-{i}-who"), t(form, f"participants-{i}-role"))
        for i in range(_rows(form, "participants"))
    ]
    return Editor(
        t(form, "title"),
        t(form, "valid_until"),
        t(form, "preferences"),
        t(form, "reason"),
        [r for r in lines if r.item_code or r.quantity or r.unit_price or r.discount],
        [p for p in parties if p.who],
    )


def editor_of(revision: Mapping[str, Any]) -> Editor:
    """A revision as the form shows it (money in major units, discounts in percent)."""

    def major(money: Any) -> str:
        digits = get_currency_precision(str(money.get("currency") or "RUB"))
        return str(Decimal(int(money["amount_minor"])).scaleb(-digits))

    lines = []
    for line in revision.get("lines", []):
        d = line.get("discount") or {}
        discount = (
            str(Decimal(int(d["basis_points"])).scaleb(-2))
            if d.get("basis_points") is not None
            else ""
        )
        lines.append(
            LineRow(line["item_code"], str(line["quantity"]), major(line["unit_price"]), discount)
        )
    parties = []
    for p in revision.get("participants", []):
        if p.get("person_id"):
            parties.append(PartyRow(f"person:{p['person_id']}", p["role"]))
        elif p.get("employee_id"):
            parties.append(PartyRow(f"employee:{p['employee_id']}", p["role"]))
    return Editor(
        revision.get("title", ""),
        str(revision.get("valid_until") or ""),
        revision.get("preferences") or "",
        "",
        lines,
        parties,
    )


def _known(editor: Editor, sent_lines: list[int], sent_parties: list[int]) -> dict[str, str]:
    """API field (as a form name) → the form field shown for it."""
    known = {n: n for n in ("title", "valid_until", "preferences", "reason", "client_id")}
    known["lines"] = "lines-0-item_code"
    known["participants"] = "participants-0-who"
    for j, i in enumerate(sent_lines):
        known[f"lines-{j}"] = f"lines-{i}-item_code"
        for name in ("item_code", "quantity", "unit_price", "discount"):
            known[f"lines-{j}-{name}"] = f"lines-{i}-{name}"
    for j, i in enumerate(sent_parties):
        known[f"participants-{j}"] = f"participants-{i}-who"
        known[f"participants-{j}-role"] = f"participants-{i}-role"
    return known


def body_of(
    visit: SignedIn, editor: Editor, catalogue: Mapping[str, Any]
) -> tuple[dict[str, Any], forms.FormErrors, dict[str, str]]:
    """The request body for proposals, what could not be read (next to its field), and how the
    service's field paths map onto the form."""
    errors = forms.FormErrors()
    lines: list[dict[str, Any]] = []
    sent_lines: list[int] = []
    for i, row in enumerate(editor.lines):
        where = f"lines-{i}"
        if not row.item_code:
            errors.add(f"{where}-item_code", visit._("Choose an item of the catalogue."))
            continue
        line: dict[str, Any] = {"item_code": row.item_code}
        try:
            quantity = forms.whole(row.quantity)
            line["quantity"] = quantity if quantity is not None else 0
        except ValueError:
            errors.add(f"{where}-quantity", visit._("Type a whole number."))
        item = catalogue.get(row.item_code)
        currency = str((item or {}).get("list_price", {}).get("currency") or "RUB")
        try:
            price = forms.minor_units(row.unit_price, get_currency_precision(currency))
            if price is not None:
                line["unit_price"] = {"amount_minor": price, "currency": currency}
        except ValueError:
            errors.add(f"{where}-unit_price", visit._("Type an amount, e.g. 1500.00."))
        try:
            bp = forms.basis_points(row.discount)
            if bp is not None:
                line["discount"] = {"kind": "percent", "basis_points": bp}
        except ValueError:
            errors.add(f"{where}-discount", visit._("Type a percentage, e.g. 12.5."))
        lines.append(line)
        sent_lines.append(i)
    participants: list[dict[str, Any]] = []
    sent_parties: list[int] = []
    for i, party in enumerate(editor.parties):
        kind, _, who = party.who.partition(":")
        role = party.role or "participant"
        if kind == "person" and who:
            participants.append({"side": "client", "role": role, "person_id": who})
        elif kind == "employee" and who:
            participants.append({"side": "company", "role": role, "employee_id": who})
        else:
            errors.add(f"participants-{i}-who", visit._("Choose a person."))
            continue
        sent_parties.append(i)
    body: dict[str, Any] = {
        "title": editor.title,
        "lines": lines,
        "participants": participants,
        "preferences": editor.preferences or None,
        "valid_until": editor.valid_until or None,
    }
    return body, errors, _known(editor, sent_lines, sent_parties)


@dataclass
class Preview:
    lines: list[dict[str, Any]]
    subtotal: dict[str, Any] | None
    discount: dict[str, Any] | None
    total: dict[str, Any] | None


def preview(editor: Editor, catalogue: Mapping[str, Any]) -> Preview:
    """What the lines come to as typed; a line that cannot be read yet counts for nothing."""
    shown: list[dict[str, Any]] = []
    currency = ""
    sums = [0, 0]
    for row in editor.lines:
        item = catalogue.get(row.item_code)
        if item is None:
            continue
        currency = currency or str(item["list_price"]["currency"])
        digits = get_currency_precision(currency)
        try:
            quantity = forms.whole(row.quantity) or 0
            price = forms.minor_units(row.unit_price, digits)
            bp = forms.basis_points(row.discount) or 0
        except ValueError:
            continue
        unit = int(item["list_price"]["amount_minor"]) if price is None else price
        if quantity <= 0 or unit < 0 or not 0 <= bp <= FULL_PERCENT_BP:
            continue
        gross = quantity * unit
        off = (2 * gross * bp + FULL_PERCENT_BP) // (2 * FULL_PERCENT_BP)
        sums[0] += gross
        sums[1] += off
        shown.append(
            {
                "name": item["name"],
                "total": {"amount_minor": gross - off, "currency": currency},
            }
        )
    if not currency:
        return Preview([], None, None, None)

    def money(minor: int) -> dict[str, Any]:
        return {"amount_minor": minor, "currency": currency}

    return Preview(shown, money(sums[0]), money(sums[1]), money(sums[0] - sums[1]))


async def _choices(
    visit: SignedIn, client_id: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], list[ApiProblem]]:
    """The catalogue by code, the client's people and the employees to choose from."""
    found = await gather(
        visit.get("proposals", "/catalog", {"limit": 200}),
        visit.get("contacts", f"/clients/{client_id}/people", {"limit": 100}),
        visit.get("contacts", "/employees", {"limit": 200}),
    )
    catalogue, people, employees = found
    problems = [r for r in found if isinstance(r, ApiProblem)]
    items = {i["code"]: i for i in ok(catalogue, {"items": []})["items"]}
    return (
        items,
        ok(people, {"items": []})["items"],
        ok(employees, {"items": []})["items"],
        problems,
    )


async def _editor_page(
    visit: SignedIn,
    editor: Editor,
    *,
    client: Mapping[str, Any],
    proposal: Mapping[str, Any] | None = None,
    errors: forms.FormErrors | None = None,
    more: int = 0,
    status: int = 200,
) -> HTMLResponse:
    catalogue, people, employees, problems = await _choices(visit, str(client["id"]))
    shown = editor.padded(more)
    return visit.page(
        "proposal_editor.html",
        status=status,
        editor=shown,
        client=client,
        proposal=proposal,
        revising=bool(proposal and proposal["status"] in REVISABLE),
        catalogue=catalogue,
        people=people,
        employees=employees,
        problems=problems,
        errors=errors or forms.FormErrors(),
        totals=preview(shown, catalogue),
    )


@router.get("/proposals/new", response_class=HTMLResponse)
async def new_proposal(
    visit: SignedIn, client_id: Annotated[str, Query(max_length=64, pattern=r"^[\w.:-]+$")]
) -> HTMLResponse:
    client = await visit.get("contacts", f"/clients/{client_id}")
    return await _editor_page(visit, Editor(), client=client)


@router.post("/proposals/preview", response_class=HTMLResponse)
async def preview_totals(visit: SignedIn) -> HTMLResponse:
    form = await visit.request.form()
    catalogue = await visit.get("proposals", "/catalog", {"limit": 200})
    items = {i["code"]: i for i in catalogue["items"]}
    return visit.page("proposal_totals.html", totals=preview(read_editor(form), items))


async def _save(
    visit: SignedIn, proposal: Mapping[str, Any] | None, client: Mapping[str, Any]
) -> Response:
    form = await visit.request.form()
    editor = read_editor(form)
    if forms.text(form, "action") == "add-line":
        return await _editor_page(visit, editor, client=client, proposal=proposal, more=1)
    catalogue, *_ = await _choices(visit, str(client["id"]))
    body, errors, known = body_of(visit, editor, catalogue)
    if errors:
        return await _editor_page(
            visit, editor, client=client, proposal=proposal, errors=errors, status=422
        )
    try:
        if proposal is None:
            answer = await visit.call(
                "POST", "proposals", "/proposals", json={"client_id": client["id"], **body}
            )
            message = visit._("The proposal is registered.")
        elif proposal["status"] in REVISABLE:
            answer = await visit.call(
                "POST",
                "proposals",
                f"/proposals/{proposal['id']}/revisions",
                json={**body, "reason": editor.reason or None},
                if_match=f'"{forms.text(form, "version")}"',
            )
            message = visit._("A new revision is made.")
        else:
            answer = await visit.call(
                "PATCH",
                "proposals",
                f"/proposals/{proposal['id']}",
                json=body,
                if_match=f'"{forms.text(form, "version")}"',
            )
            message = visit._("The draft is saved.")
    except ApiProblem as problem:
        if problem.status >= 500:
            raise
        placed = forms.FormErrors().place(problem, known)
        return await _editor_page(
            visit,
            editor,
            client=client,
            proposal=proposal,
            errors=placed,
            status=problem.status,
        )
    await visit.console.store.add_flash(visit.session, message)
    return RedirectResponse(f"/proposals/{answer.body['id']}", status_code=303)


@router.post("/proposals/new", response_model=None)
async def register_proposal(
    visit: SignedIn, client_id: Annotated[str, Query(max_length=64, pattern=r"^[\w.:-]+$")]
) -> Response:
    client = await visit.get("contacts", f"/clients/{client_id}")
    return await _save(visit, None, client)


@router.get("/proposals/{proposal_id}/edit", response_class=HTMLResponse)
async def edit_proposal(visit: SignedIn, proposal_id: Id) -> HTMLResponse:
    proposal = await visit.get("proposals", f"/proposals/{proposal_id}")
    client = await visit.get("contacts", f"/clients/{proposal['client_id']}")
    return await _editor_page(
        visit, editor_of(proposal["revision"]), client=client, proposal=proposal
    )


@router.post("/proposals/{proposal_id}/edit", response_model=None)
async def save_proposal(visit: SignedIn, proposal_id: Id) -> Response:
    proposal = await visit.get("proposals", f"/proposals/{proposal_id}")
    client = await visit.get("contacts", f"/clients/{proposal['client_id']}")
    return await _save(visit, proposal, client)
