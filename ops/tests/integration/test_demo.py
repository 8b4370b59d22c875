"""`crm demo load`: the data set arrives through the APIs, complete, and only once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
from crm_campaigns.app import SPEC as CAMPAIGNS
from crm_campaigns.app import CampaignsSettings
from crm_contacts.app import SPEC as CONTACTS
from crm_contacts.app import ContactsSettings
from crm_kit.app import create_app
from crm_kit.testing import JwtKeys, StackEndpoints, bearer, http_client, running, service_env
from crm_ops import demo
from crm_proposals.app import SPEC as PROPOSALS
from crm_proposals.app import ProposalsSettings

N_CLIENTS = 8


@pytest.fixture
async def apis(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[dict[str, Any]]:
    headers = bearer(jwt_keys, *demo.SCOPES, subject="crm-demo")
    async with AsyncExitStack() as exit_stack:
        clients: dict[str, httpx.AsyncClient] = {}
        for name, spec, settings_cls in (
            ("contacts", CONTACTS, ContactsSettings),
            ("campaigns", CAMPAIGNS, CampaignsSettings),
            ("proposals", PROPOSALS, ProposalsSettings),
        ):
            app: Any = create_app(spec, settings_cls(**service_env(stack, jwt_keys, name)))
            await exit_stack.enter_async_context(running(app))
            client = await exit_stack.enter_async_context(http_client(app))
            client.headers.update(headers)
            client.timeout = httpx.Timeout(60)
            clients[name] = client
        yield clients


async def _all(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, "limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.get(path, params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        items += body["items"]
        cursor = body.get("next_cursor")
        if not cursor:
            return items


async def test_the_demo_loads_through_the_apis_and_refuses_a_second_run(
    apis: dict[str, httpx.AsyncClient], jwt_keys: JwtKeys
) -> None:
    said: list[str] = []
    summary = await demo.DemoLoader(
        apis,
        n_clients=N_CLIENTS,
        seed=3,
        say=said.append,
        approver=demo.approver_bearer(jwt_keys.private_pem, jwt_keys.issuer, jwt_keys.audience),
    ).load()
    contacts, campaigns, proposals = apis["contacts"], apis["campaigns"], apis["proposals"]

    employees = await _all(contacts, "/employees")
    assert len(employees) == len(demo.EMPLOYEES) == summary.employees
    assert {e["department"] for e in employees} == {
        "marketing",
        "sales",
        "service",
        "finance",
        "logistics",
        "management",
    }
    clients = await _all(contacts, "/clients", tag=demo.DEMO_TAG)
    assert len(clients) == N_CLIENTS == summary.clients
    assert sum(c["people_count"] for c in clients) == summary.people
    assert sum(1 for c in clients if c["curator_id"]) == summary.curators > 0
    assert any(any("а" <= ch <= "я" for ch in c["name"].lower()) for c in clients)
    assert any(c["name"].isascii() for c in clients)
    people = await _all(contacts, f"/clients/{clients[0]['id']}/people")
    assert all(p["channels"]["email"] for p in people)

    catalogue = await _all(proposals, "/catalog")
    assert [i["code"] for i in catalogue] == sorted(c[0] for c in demo.CATALOGUE)
    models = await _all(proposals, "/sales-models")
    assert [m["published_version"] for m in models] == [1, 1]

    programmes = await _all(campaigns, "/programmes")
    assert len(programmes) == summary.programmes == 3
    events = await _all(campaigns, "/events")
    assert sorted(e["status"] for e in events) == ["completed"] * 3 + ["scheduled"] * 3
    assert summary.participants > 0
    assert summary.questionnaires >= 3

    found = await _all(proposals, "/proposals")
    by_status = {s: sum(1 for p in found if p["status"] == s) for s in demo.PROPOSAL_STATUSES}
    assert by_status == summary.proposals
    assert all(by_status[s] >= 1 for s in demo.PROPOSAL_STATUSES), by_status
    records = await _all(contacts, "/contacts")
    assert len([r for r in records if r["employee_id"] != "system"]) == summary.contact_records
    assert said[-1].startswith("demo loaded: ")
    assert any(line.startswith(f"clients: {N_CLIENTS}/{N_CLIENTS}") for line in said)

    # A second run is refused before it writes anything.
    with pytest.raises(demo.AlreadyLoaded, match="already loaded"):
        await demo.DemoLoader(
            apis,
            n_clients=N_CLIENTS,
            seed=3,
            say=said.append,
            approver=demo.approver_bearer(jwt_keys.private_pem, jwt_keys.issuer, jwt_keys.audience),
        ).load()
    assert len(await _all(contacts, "/employees")) == len(demo.EMPLOYEES)


def test_a_refused_call_shows_its_problem_detail() -> None:
    request = httpx.Request("POST", "http://contacts/clients")
    response = httpx.Response(
        422,
        request=request,
        json={
            "type": "https://crm.example/problems/validation",
            "title": "Invalid request",
            "status": 422,
            "detail": "1 field is invalid",
            "errors": [{"field": "body.name", "message": "required", "type": "missing"}],
        },
    )
    assert demo.problem_text(response) == (
        "POST /clients -> 422 Invalid request: 1 field is invalid (body.name: required)"
    )
