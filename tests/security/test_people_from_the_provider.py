"""People signed in at the stack's real provider (Keycloak, the code flow with PKCE), linked to
their employees of contacts, meet the authorization rules end to end: a salesperson cannot
approve a discount, record a contact as a colleague or assign a curator; the approver can
approve; every refusal is a 403 problem naming the rule or the roles that would do."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from crm_kit.signin import sign_in
from crm_kit.testing import JwtKeys, StackEndpoints, bearer
from crm_ops import identity
from crm_stack import keycloak
from crm_stack.config import StackConfig

from tests.security.conftest import RunningService, started

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

SELLER = ("mseller", "employee5@demo.crm.example", "sales")
APPROVER = ("ffinansov", "employee9@demo.crm.example", "finance")
CURATOR = ("ikuratorova", "employee3@demo.crm.example", "sales")


@pytest.fixture(scope="module")
async def crm(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[dict[str, Any]]:
    issuer = os.environ.get("CRM_OIDC_ISSUER")
    assert issuer, "CRM_OIDC_ISSUER is not set: start the stack and eval `crm-stack env`"
    async with contextlib.AsyncExitStack() as services:
        contacts: RunningService = await services.enter_async_context(
            started("contacts", stack, jwt_keys, oidc_issuer=issuer)
        )
        proposals: RunningService = await services.enter_async_context(
            started("proposals", stack, jwt_keys, oidc_issuer=issuer)
        )
        app = bearer(jwt_keys, "contacts:read", "contacts:write")
        employees = {}
        for username, email, department in (SELLER, APPROVER, CURATOR):
            made = await contacts.api.post(
                "/employees",
                json={
                    "name": username,
                    "department": department,
                    "role": "staff",
                    "channels": {"email": email},
                },
                headers=app,
            )
            assert made.status_code == 201, made.text
            employees[username] = made.json()["id"]
        admin = keycloak.admin_password(StackConfig.from_env())
        contacts.api.headers.update(app)
        report = await identity.link_employees(issuer, admin, contacts.api)
        del contacts.api.headers["Authorization"]
        assert {u: report.linked.get(u) or report.unchanged.get(u) for u in employees} == employees
        tokens = {
            username: (await sign_in(issuer, username, f"dev-only-{username}")).access_token
            for username in employees
        }
        yield {
            "contacts": contacts,
            "proposals": proposals,
            "employees": employees,
            "as": {u: {"Authorization": f"Bearer {t}"} for u, t in tokens.items()},
            "app": jwt_keys,
        }


async def _eventually(call: Any, ok: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        response = await call()
        if ok(response) or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.3)


async def test_a_salesperson_records_contacts_as_themselves_not_as_a_colleague(
    crm: dict[str, Any],
) -> None:
    contacts, seller = crm["contacts"], crm["as"]["mseller"]
    client = await contacts.api.post("/clients", json={"name": "Provider test"}, headers=seller)
    assert client.status_code == 201, client.text

    def record(employee: str) -> dict[str, Any]:
        return {
            "client_id": client.json()["id"],
            "employee_id": crm["employees"][employee],
            "kind": "call",
            "direction": "outbound",
            "occurred_at": "2026-12-01T10:00:00Z",
            "summary": "Called",
        }

    as_colleague = await contacts.api.post("/contacts", json=record("ikuratorova"), headers=seller)
    as_self = await contacts.api.post("/contacts", json=record("mseller"), headers=seller)
    curator = await contacts.api.put(
        f"/clients/{client.json()['id']}/curator",
        json={"employee_id": crm["employees"]["mseller"]},
        headers={**seller, "If-Match": '"1"'},
    )

    assert as_colleague.status_code == 403
    assert as_colleague.json()["field"] == "body.employee_id"
    assert as_self.status_code == 201, as_self.text
    assert curator.status_code == 403
    assert "sales-manager" in curator.json()["allowed_roles"]


async def test_the_approver_approves_a_discount_and_the_salesperson_cannot(
    crm: dict[str, Any],
) -> None:
    contacts, proposals = crm["contacts"], crm["proposals"]
    app = bearer(crm["app"], "contacts:read", "contacts:write")
    papp = bearer(crm["app"], "proposals:read", "proposals:write", "proposals:admin")
    client = await contacts.api.post("/clients", json={"name": "Four eyes Ltd"}, headers=app)
    client_id = client.json()["id"]
    assigned = await contacts.api.put(
        f"/clients/{client_id}/curator",
        json={"employee_id": crm["employees"]["ikuratorova"]},
        headers={**app, "If-Match": '"1"'},
    )
    assert assigned.status_code == 200, assigned.text
    item = await proposals.api.post(
        "/catalog",
        json={
            "code": f"FE-{client_id[:8]}",
            "name": "Pump",
            "kind": "goods",
            "unit": "pcs",
            "list_price": {"amount_minor": 100_000, "currency": "RUB"},
        },
        headers=papp,
    )
    assert item.status_code == 201, item.text
    line = {
        "item_code": item.json()["code"],
        "quantity": 1,
        "discount": {"kind": "percent", "basis_points": 2_000},
    }
    seller = crm["as"]["mseller"]
    created = await _eventually(
        lambda: proposals.api.post(
            "/proposals",
            json={"client_id": client_id, "title": "Offer", "lines": [line]},
            headers=seller,
        ),
        lambda r: r.status_code == 201,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    plan = await _eventually(
        lambda: proposals.api.put(
            f"/proposals/{pid}/plan",
            json={
                "steps": [
                    {
                        "key": "ok",
                        "title": "Approve",
                        "approval": True,
                        "assignee_id": crm["employees"]["ffinansov"],
                    }
                ]
            },
            headers={**seller, "If-Match": '"1"'},
        ),
        lambda r: r.status_code == 200,
    )
    assert plan.status_code == 200, plan.text
    step = plan.json()["steps"][0]["id"]
    started_step = await proposals.api.post(
        f"/steps/{step}/start", headers={**seller, "If-Match": '"2"'}
    )
    # The step is the approver's: the salesperson may not even start it.
    assert started_step.status_code == 403
    assert started_step.json()["rule"] == "step-assignee"
    approver = crm["as"]["ffinansov"]
    started_step = await proposals.api.post(
        f"/steps/{step}/start", headers={**approver, "If-Match": '"2"'}
    )
    assert started_step.status_code == 200, started_step.text

    by_seller = await proposals.api.post(
        f"/steps/{step}/complete", headers={**seller, "If-Match": '"3"'}
    )
    by_approver = await proposals.api.post(
        f"/steps/{step}/complete", headers={**approver, "If-Match": '"3"'}
    )

    assert by_seller.status_code == 403
    assert by_seller.json()["rule"] == "four-eyes"
    assert by_approver.status_code == 200, by_approver.text
    got = await proposals.api.get(f"/proposals/{pid}", headers=seller)
    assert got.json()["approval_pending"] is False
