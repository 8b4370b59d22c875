"""The console on the real stack: the four services served over real sockets
(on 8101-8104, their lifespans running against the stack's Kafka and MongoDB, accepting the
stack's Keycloak tokens), the console on 127.0.0.1:8000 (the address the provider's
``crm-console`` client sends people back to), and a Chromium driven by Playwright.

Demo people sign in at the real provider; their provider users are linked to employees made
in this run's contacts (``crm_ops.identity``), so their tokens name those employees. A client
curated by the salesperson, with a person and consents, and a proposal with a discount that
needs an approval (and a plan whose approval step is ready) are made through the APIs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from axe_playwright_python.async_playwright import Axe
from crm_campaigns.app import create as create_campaigns
from crm_campaigns.settings import CampaignsSettings
from crm_console.app import create as create_console
from crm_console.settings import ConsoleSettings
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
from crm_kit.signin import sign_in, submit_login_form
from crm_kit.testing import JwtKeys, StackEndpoints, bearer, eventually, running, service_env
from crm_notify.app import create as create_notify
from crm_notify.settings import NotifySettings
from crm_ops import identity
from crm_proposals.app import create as create_proposals
from crm_proposals.settings import ProposalsSettings
from crm_stack import keycloak
from crm_stack.config import StackConfig
from playwright.async_api import Browser, Page, async_playwright

CHROMIUM = "/usr/bin/chromium"
CONSOLE = "http://127.0.0.1:8000"
PORTS = {"contacts": 8101, "campaigns": 8102, "proposals": 8103, "notify": 8104}
FACTORIES: dict[str, tuple[Callable[[Any], Any], type[Any]]] = {
    "contacts": (create_contacts, ContactsSettings),
    "campaigns": (create_campaigns, CampaignsSettings),
    "proposals": (create_proposals, ProposalsSettings),
    "notify": (create_notify, NotifySettings),
}
OVERRIDES: dict[str, dict[str, Any]] = {
    # Never deliver to the shared local mail catcher or gateway sink: nothing listens on 9.
    "notify": {"smtp_port": 9, "gateway_url": "http://127.0.0.1:9/messages"},
}
PEOPLE = {
    "mseller": ("employee5@demo.crm.example", "sales"),
    "ffinansov": ("employee9@demo.crm.example", "finance"),
    "omarkova": ("employee1@demo.crm.example", "marketing"),
    "vdirektorov": ("employee11@demo.crm.example", "management"),
}
CONTACTS_SCOPES = ("contacts:read", "contacts:write", "contacts:admin")
PROPOSALS_SCOPES = ("proposals:read", "proposals:write", "proposals:admin")
CAMPAIGNS_SCOPES = ("campaigns:read", "campaigns:write")


@contextlib.asynccontextmanager
async def served(app: Any, port: int, *, lifespan: bool = False) -> AsyncIterator[str]:
    """``app`` behind uvicorn on ``127.0.0.1:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="on" if lifespan else "off", log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, within=60, what=f"uvicorn on {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Crm:
    issuer: str
    keys: JwtKeys
    apis: dict[str, httpx.AsyncClient]
    employees: dict[str, str] = field(default_factory=dict)
    client_id: str = ""
    client_name: str = ""
    proposal_id: str = ""
    approval_step_id: str = ""
    event_id: str = ""
    check_in_code: str = ""
    own_proposal_id: str = ""
    own_step_id: str = ""
    item_code: str = ""
    programme_id: str = ""
    programme_name: str = ""
    console: Any = None

    @property
    def sessions(self) -> Any:
        """The console's own store (what a test checks of the sessions it keeps)."""
        return self.console.state.mongo[self.console.state.settings.mongo_database]

    def app(self, *scopes: str) -> dict[str, str]:
        return bearer(self.keys, *scopes)


async def new_client(
    crm: Crm,
    name: str,
    curator: str,
    people: list[dict[str, Any]] | None = None,
    *,
    tags: tuple[str, ...] = ("water",),
    insist: bool = False,
) -> str:
    """A client registered in contacts with ``curator`` (a username) as its curator (``insist``:
    even if contacts finds it looks like one already there)."""
    write = crm.app(*CONTACTS_SCOPES)
    made = await crm.apis["contacts"].post(
        "/clients",
        json={"name": name, "region": "Moscow", "tags": list(tags), "people": people or []},
        params={"insist": "true"} if insist else None,
        headers=write,
    )
    assert made.status_code == 201, made.text
    client_id: str = made.json()["id"]
    assigned = await crm.apis["contacts"].put(
        f"/clients/{client_id}/curator",
        json={"employee_id": crm.employees[curator]},
        headers={**write, "If-Match": made.headers["ETag"]},
    )
    assert assigned.status_code == 200, assigned.text
    return client_id


async def record_contact(crm: Crm, by: str, summary: str, **fields: Any) -> None:
    """A contact with the seeded client recorded through contacts' API as ``by`` (a username)
    made it, now; ``fields`` add to the body (``event_id``, ``need_item_codes``…)."""
    answer = await crm.apis["contacts"].post(
        "/contacts",
        json={
            "client_id": crm.client_id,
            "employee_id": crm.employees[by],
            "kind": "call",
            "occurred_at": datetime.now(UTC).isoformat(),
            "summary": summary,
            **fields,
        },
        headers=crm.app(*CONTACTS_SCOPES),
    )
    assert answer.status_code == 201, answer.text


async def new_event(crm: Crm, title: str, days_ahead: int) -> str:
    """A seminar of two hours scheduled through campaigns' API ``days_ahead`` from now."""
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=days_ahead)
    made = await crm.apis["campaigns"].post(
        "/events",
        json={
            "kind": "seminar",
            "title": title,
            "place": {"venue": "Hall 1"},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "timezone": "Europe/Moscow",
        },
        headers=crm.app(*CAMPAIGNS_SCOPES),
    )
    assert made.status_code == 201, made.text
    event_id: str = made.json()["id"]
    return event_id


async def _proposal_to_approve(
    crm: Crm,
    client_id: str,
    curator: str,
    code: str,
    title: str,
    author: dict[str, str] | None = None,
) -> tuple[str, str]:
    """A proposal whose 20 % discount needs an approval, with a plan whose approval step is
    ready (and an overdue step of the curator's after it): (proposal id, approval step id)."""
    proposals, sell = crm.apis["proposals"], crm.app(*PROPOSALS_SCOPES)

    async def proposal_made() -> httpx.Response | None:
        answer = await proposals.post(
            "/proposals",
            json={
                "client_id": client_id,
                "title": title,
                "lines": [
                    {
                        "item_code": code,
                        "quantity": 12,
                        "discount": {"kind": "percent", "basis_points": 2_000},
                    }
                ],
            },
            headers=author or sell,
        )
        # The client reaches proposals through contacts' events: wait until it has.
        return answer if answer.status_code == 201 else None

    created = await eventually(proposal_made, within=120, what="the client known to proposals")
    assert created is not None
    proposal_id: str = created.json()["id"]

    async def curated() -> bool:
        got = await proposals.get(f"/proposals/{proposal_id}", headers=sell)
        return bool(got.json().get("curator_id") == crm.employees[curator])

    await eventually(curated, within=120, what=f"the proposal curated by {curator}")
    current = await proposals.get(f"/proposals/{proposal_id}", headers=sell)
    plan = await proposals.put(
        f"/proposals/{proposal_id}/plan",
        json={
            "steps": [
                {"key": "approve", "title": "Approve the discount", "approval": True},
                {
                    "key": "present",
                    "title": "Present the offer",
                    "depends_on": ["approve"],
                    "assignee_id": crm.employees[curator],
                    "due_on": (datetime.now(UTC) - timedelta(days=2)).date().isoformat(),
                },
            ]
        },
        headers={**sell, "If-Match": current.headers["ETag"]},
    )
    assert plan.status_code == 200, plan.text
    return proposal_id, plan.json()["steps"][0]["id"]


async def _seed(crm: Crm) -> None:
    contacts, proposals, campaigns = (
        crm.apis["contacts"],
        crm.apis["proposals"],
        crm.apis["campaigns"],
    )
    write = crm.app(*CONTACTS_SCOPES)
    run = uuid.uuid4().hex[:6]
    crm.client_name = f"Vodokanal {run}"
    crm.client_id = await new_client(
        crm,
        crm.client_name,
        "mseller",
        people=[
            {
                "name": "Anna Petrova",
                "position": "Chief engineer",
                "channels": {"email": f"anna.{run}@example.com", "phone": "+74950000000"},
                "consents": ["email"],
            }
        ],
    )
    code = f"PUMP-{run}"
    item = await proposals.post(
        "/catalog",
        json={
            "code": code,
            "name": "Pump station service",
            "kind": "service",
            "unit": "hour",
            "list_price": {"amount_minor": 1_500_00, "currency": "RUB"},
        },
        headers=crm.app(*PROPOSALS_SCOPES),
    )
    assert item.status_code == 201, item.text
    crm.item_code = code
    crm.programme_name = f"Water utilities {run}"
    today = datetime.now(UTC).date()
    programme = await campaigns.post(
        "/programmes",
        json={
            "name": crm.programme_name,
            "portrait": {"tags": ["water"]},
            "promoted_item_codes": [code],
            "starts_on": today.isoformat(),
            "ends_on": (today + timedelta(days=90)).isoformat(),
        },
        headers=crm.app(*CAMPAIGNS_SCOPES),
    )
    assert programme.status_code == 201, programme.text
    crm.programme_id = programme.json()["id"]
    crm.proposal_id, crm.approval_step_id = await _proposal_to_approve(
        crm, crm.client_id, "mseller", code, f"Service contract {run}"
    )
    # A proposal the director wrote himself (he may: sales-manager), signed in at the
    # provider: four eyes keeps him, a discount approver too, from approving its discount.
    director = await sign_in(crm.issuer, "vdirektorov", "dev-only-vdirektorov")
    crm.own_proposal_id, crm.own_step_id = await _proposal_to_approve(
        crm,
        crm.client_id,
        "mseller",
        code,
        f"Heating contract {run}",
        author={"Authorization": f"Bearer {director.access_token}"},
    )

    starts = datetime.now(UTC).replace(hour=7, minute=0, second=0, microsecond=0)
    starts += timedelta(days=1)
    event = await campaigns.post(
        "/events",
        json={
            "kind": "seminar",
            "title": f"Pumps for water utilities {run}",
            "topic": "New pump range",
            "place": {"venue": "Expo hall 3", "address": "Moscow, Tverskaya 1"},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=4)).isoformat(),
            "timezone": "Europe/Moscow",
            "capacity": 50,
            "budget": {"amount_minor": 500_000_00, "currency": "RUB"},
            "responsible_employee_ids": [crm.employees["omarkova"]],
            "programme_id": crm.programme_id,
        },
        headers=crm.app(*CAMPAIGNS_SCOPES),
    )
    assert event.status_code == 201, event.text
    crm.event_id = event.json()["id"]

    people = await contacts.get(f"/clients/{crm.client_id}/people", headers=write)
    person_id = people.json()["items"][0]["id"]

    async def listed() -> httpx.Response | None:
        # The person reaches campaigns through contacts' events: wait until it has.
        answer = await campaigns.post(
            f"/events/{crm.event_id}/participants",
            json={"people": [{"person_id": person_id}]},
            headers=crm.app(*CAMPAIGNS_SCOPES),
        )
        return answer if answer.status_code in (200, 201) and answer.json().get("added") else None

    await eventually(listed, within=120, what="the client's person listed at the event")
    participants = await campaigns.get(
        f"/events/{crm.event_id}/participants", headers=crm.app(*CAMPAIGNS_SCOPES)
    )
    crm.check_in_code = participants.json()["items"][0]["check_in_code"]


@pytest.fixture(scope="package")  # the package console_integration: its servers stop after it
async def crm(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Crm]:
    issuer = os.environ.get("CRM_OIDC_ISSUER")
    assert issuer, "CRM_OIDC_ISSUER is not set: start the stack and eval `crm-stack env`"
    async with contextlib.AsyncExitStack() as up:
        apis: dict[str, httpx.AsyncClient] = {}
        for name, (create, settings_cls) in FACTORIES.items():
            settings = settings_cls(
                **service_env(
                    stack,
                    jwt_keys,
                    name,
                    oidc_issuer=issuer,
                    log_level="WARNING",
                    **OVERRIDES.get(name, {}),
                )
            )
            app = create(settings)
            await up.enter_async_context(running(app))
            base = await up.enter_async_context(served(app, PORTS[name]))
            apis[name] = await up.enter_async_context(httpx.AsyncClient(base_url=base, timeout=30))
        crm = Crm(issuer, jwt_keys, apis)
        write = crm.app(*CONTACTS_SCOPES)
        for username, (email, department) in PEOPLE.items():
            made = await apis["contacts"].post(
                "/employees",
                json={
                    "name": username,
                    "department": department,
                    "role": "staff",
                    "channels": {"email": email},
                },
                headers=write,
            )
            assert made.status_code == 201, made.text
            crm.employees[username] = made.json()["id"]
        admin = keycloak.admin_password(StackConfig.from_env())
        apis["contacts"].headers.update(write)
        await identity.link_employees(issuer, admin, apis["contacts"])
        del apis["contacts"].headers["Authorization"]
        await _seed(crm)

        console = create_console(
            ConsoleSettings(
                environment="test",
                mongo_uri=stack.mongo_uri,
                mongo_database=f"test_console_{uuid.uuid4().hex[:8]}",
                oidc_issuer=issuer,
                contacts_url=f"http://127.0.0.1:{PORTS['contacts']}",
                campaigns_url=f"http://127.0.0.1:{PORTS['campaigns']}",
                proposals_url=f"http://127.0.0.1:{PORTS['proposals']}",
                notify_url=f"http://127.0.0.1:{PORTS['notify']}",
                log_json=False,
                log_level="WARNING",
            )
        )
        await up.enter_async_context(served(console, 8000, lifespan=True))
        crm.console = console
        try:
            yield crm
        finally:
            await console.state.mongo.drop_database(console.state.settings.mongo_database)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: apt-get install chromium")
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def signed_in(browser: Browser, username: str) -> Page:
    """A new browser context with ``username`` signed in through the provider's login form."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{CONSOLE}/")
    await page.fill("#username", username)
    await page.fill("#password", f"dev-only-{username}")
    await page.click("#kc-login")
    await page.wait_for_url(re.compile(r"^http://127\.0\.0\.1:8000/"))
    return page


async def csrf_of(page: Page) -> str:
    value = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert value
    return value


@contextlib.asynccontextmanager
async def signed_in_http(username: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client holding the console's session cookie of ``username``, signed in through
    the provider's login form as a browser would (redirects followed by hand)."""
    async with (
        httpx.AsyncClient(base_url=CONSOLE, follow_redirects=False, timeout=30) as console,
        httpx.AsyncClient(follow_redirects=False, timeout=30) as provider,
    ):
        start = await console.get("/signin")
        assert start.status_code == 303, start.text
        page = await provider.get(start.headers["location"])
        answer = await submit_login_form(provider, page, username, f"dev-only-{username}")
        back = answer.headers["location"]
        assert back.startswith(f"{CONSOLE}/auth/callback"), back
        landed = await console.get(back.removeprefix(CONSOLE))
        assert landed.status_code == 303, landed.text
        yield console


SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"


async def accessible(page: Page, screen: str) -> None:
    """axe-core finds no serious or critical violation on the page as it stands; its screenshot
    goes to ``services/console/screenshots/<screen>.png`` (the README points there)."""
    results = await Axe().run(page)
    serious = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], (page.url, serious)
    SCREENSHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{screen}.png"), full_page=True)


def csrf_in(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)
