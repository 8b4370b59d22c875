"""Every query the services make on realistic data is served by an index.

The four services run as processes on the real stack (the ``processes`` fixture) while the
store's profiler records, in their four databases, every operation whose plan scanned a whole
collection (``planSummary`` COLLSCAN). The demo data set is loaded through the public APIs (every
write path, the consumers reacting to each other's events, the relays), then every list, filter,
search, report and card the APIs offer is read. A collection scan of a collection that grows with
use fails the test, naming the collection, the command and its filter: the store plans the same
query the same way through ``explain``, so this is ``explain`` run on every query actually made.
Only the kit's own collections and reads that say they read a small collection whole
(``crm_kit.query_plans.READS_ALL``: notify's template overrides, campaigns' edited task-template
kinds) may scan.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import httpx
import pytest
from crm_kit.query_plans import collection_scans, profile_every_operation
from crm_ops.demo import SCOPES, DemoLoader, approver_bearer
from crm_ops.personal_data import SCOPES as PERSONAL_DATA_SCOPES
from crm_ops.personal_data import export_person
from pymongo import AsyncMongoClient

from .conftest import token

pytestmark = pytest.mark.timeout(900)

URLS = {
    "contacts": "http://127.0.0.1:8001",
    "campaigns": "http://127.0.0.1:8002",
    "proposals": "http://127.0.0.1:8003",
    "notify": "http://127.0.0.1:8004",
}
CLIENTS = 150


def _service_databases() -> list[str]:
    names = [
        os.environ[f"CRM_{service.upper()}_MONGO_DATABASE"]
        for service in ("contacts", "campaigns", "proposals", "notify")
    ]
    assert all(name.startswith("e2e_") for name in names), names
    return names


def _headers(processes: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(processes, *SCOPES, subject='index-check')}"}


async def _read_everything(http: dict[str, httpx.AsyncClient]) -> int:
    """Every read the APIs offer, with the filters a person would use; returns how many."""
    calls = 0

    async def get(service: str, path: str, **params: Any) -> Any:
        nonlocal calls
        calls += 1
        response = await http[service].get(path, params=params)
        assert response.status_code == 200, f"GET {service}{path} {params}: {response.text}"
        kind = response.headers.get("content-type", "")
        return response.json() if kind.startswith("application/json") else response.text

    async def pages(service: str, path: str, **params: Any) -> list[Any]:
        first = await get(service, path, limit=20, **params)
        items: list[Any] = list(first["items"])
        if first.get("next_cursor"):
            items += (await get(service, path, limit=20, cursor=first["next_cursor"], **params))[
                "items"
            ]
        return items

    # contacts
    clients = await pages("contacts", "/clients")
    sample = clients[0]
    for filters in (
        {"status": "potential"},
        {"region": sample.get("region") or "Moscow"},
        {"field_of_activity": sample.get("field_of_activity") or "retail"},
        {"tag": (sample.get("tags") or ["x"])[0]},
        {"q": sample["name"].split()[0]},
        {"q": sample["name"][:3].lower()},
        {"status": "potential", "region": sample.get("region") or "Moscow"},
        {"registered_from": "2020-01-01T00:00:00Z"},
    ):
        await pages("contacts", "/clients", **filters)
    employees = await pages("contacts", "/employees")
    await pages("contacts", "/employees", department=employees[0]["department"], active="true")
    curated = [c for c in clients if c.get("curator_id")] or clients
    await pages("contacts", "/clients", curator_id=curated[0].get("curator_id") or "none")
    await pages(
        "contacts",
        "/timeline",
        curator_id=curated[0].get("curator_id") or "none",
        since="2020-01-01T00:00:00Z",
    )
    for client in clients[:5]:
        cid = client["id"]
        await get("contacts", f"/clients/{cid}")
        people = await pages("contacts", f"/clients/{cid}/people")
        for person in people[:1]:
            await get("contacts", f"/clients/{cid}/people/{person['id']}")
        await pages("contacts", f"/clients/{cid}/timeline")
        await get("contacts", f"/clients/{cid}/curator")
        records = await pages("contacts", "/contacts", client_id=cid)
        for record in records[:1]:
            await get("contacts", f"/contacts/{record['id']}")
    await pages("contacts", "/contacts", employee_id=employees[0]["id"])
    await pages("contacts", "/duplicates")
    await pages("contacts", "/duplicates/dismissals")

    # campaigns
    programmes = await pages("campaigns", "/programmes")
    for programme in programmes[:2]:
        await get("campaigns", f"/programmes/{programme['id']}")
    events = await pages("campaigns", "/events")
    await pages(
        "campaigns", "/events", **{"from": "2020-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    )
    await pages("campaigns", "/events", programme_id=programmes[0]["id"])
    await pages("campaigns", "/events", status="scheduled")
    await pages("campaigns", "/events", responsible_employee_id=employees[0]["id"])
    await get("campaigns", "/events.ics")
    await get("campaigns", "/calendar-feeds")
    for event in events[:4]:
        eid = event["id"]
        await get("campaigns", f"/events/{eid}")
        await get("campaigns", f"/events/{eid}/effectiveness")
        await get("campaigns", f"/events/{eid}/estimate")
        await get("campaigns", f"/events/{eid}/tasks")
        await get("campaigns", f"/events/{eid}/tasks", overdue="true")
        participants = await pages("campaigns", f"/events/{eid}/participants")
        await pages("campaigns", f"/events/{eid}/participants", status="invited")
        for participant in participants[:1]:
            await get("campaigns", f"/events/{eid}/participants/{participant['id']}")
        questionnaire = await http["campaigns"].get(f"/events/{eid}/questionnaire")
        assert questionnaire.status_code in (200, 404)
        if questionnaire.status_code == 200:
            await get("campaigns", f"/events/{eid}/questionnaire/results", limit=5)
            await get("campaigns", f"/events/{eid}/questionnaire/results", format="csv")
            for q in questionnaire.json()["questions"]:
                if q["kind"] == "free_text":
                    texts = f"/events/{eid}/questionnaire/results/{q['question_id']}/texts"
                    await pages("campaigns", texts)
    for client in clients[:3]:
        await get("campaigns", f"/audience/clients/{client['id']}")
    await get("campaigns", "/reports/market-needs")
    await get("campaigns", "/reports/market-needs", programme_id=programmes[0]["id"])
    await get("campaigns", "/task-templates")

    # proposals
    await pages("proposals", "/catalog")
    await pages("proposals", "/catalog", active="true")
    proposals = await pages("proposals", "/proposals")
    for status in ("draft", "won", "lost"):
        await pages("proposals", "/proposals", status=status)
    await pages("proposals", "/proposals", client_id=proposals[0]["client_id"])
    await pages("proposals", "/proposals", flagged="true")
    for proposal in proposals[:4]:
        pid = proposal["id"]
        await get("proposals", f"/proposals/{pid}")
        await get("proposals", f"/proposals/{pid}/history")
        await get("proposals", f"/proposals/{pid}/revisions")
        plan = await http["proposals"].get(f"/proposals/{pid}/plan")
        assert plan.status_code in (200, 404)
        if plan.status_code == 200:
            for step in plan.json().get("steps", [])[:1]:
                await get("proposals", f"/steps/{step['id']}")
    await get("proposals", "/reports/pipeline")
    models = await pages("proposals", "/sales-models")
    await get("proposals", f"/sales-models/{models[0]['id']}")
    await get("proposals", "/sales-models/mined")

    # notify
    notifications = await pages("notify", "/notifications")
    for filters in (
        {"status": "delivered"},
        {"kind": notifications[0]["kind"]},
        {"recipient": notifications[0]["recipient"]["id"]},
        {"recipient": notifications[0]["address"]},
        {"since": "2020-01-01T00:00:00Z"},
    ):
        await pages("notify", "/notifications", **filters)
    await get("notify", f"/notifications/{notifications[0]['id']}")
    await get("notify", "/templates")
    await get("notify", "/channels")
    return calls


async def _export_and_erase(processes: Any, contacts: httpx.AsyncClient) -> int:
    """A data-protection officer's export of a person, their erasure (which every service
    follows) and the export again; returns how many calls."""
    clients = (await contacts.get("/clients", params={"limit": 20})).json()["items"]
    people = [
        p
        for c in clients
        for p in (await contacts.get(f"/clients/{c['id']}/people")).json()["items"]
    ]
    officer = {
        "Authorization": "Bearer "
        + token(processes, *PERSONAL_DATA_SCOPES, roles=("data-protection",), subject="dpo")
    }
    services = {
        name: httpx.AsyncClient(base_url=url, headers=officer, timeout=60)
        for name, url in URLS.items()
    }
    try:
        await export_person(people[0]["id"], services)
        erased = await services["contacts"].post(f"/people/{people[0]['id']}/erasure")
        assert erased.status_code == 200, erased.text
        await asyncio.sleep(3)  # the other services follow PersonErased
        await export_person(people[0]["id"], services)
    finally:
        for client in services.values():
            await client.aclose()
    return 2 * len(services) + 1


def test_every_query_on_realistic_data_is_served_by_an_index(processes: Any, stack: Any) -> None:
    async def run() -> tuple[int, list[str]]:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
        dbs = [mongo[name] for name in _service_databases()]
        http = {
            name: httpx.AsyncClient(base_url=url, headers=_headers(processes), timeout=60)
            for name, url in URLS.items()
        }
        try:
            for db in dbs:
                await profile_every_operation(db, scans_only=True)
            approver = approver_bearer(processes.private_key.read_bytes(), "crm-local", "crm")
            loader = DemoLoader(
                http, n_clients=CLIENTS, seed=11, say=lambda _: None, approver=approver
            )
            await loader.load()
            await asyncio.sleep(5)  # the consumers and relays finish reacting to the load
            calls = await _read_everything(http)
            calls += await _export_and_erase(processes, http["contacts"])
            scans = [s for db in dbs for s in await collection_scans(db)]
            return calls, scans
        finally:
            for client in http.values():
                await client.aclose()
            await mongo.close()

    calls, scans = asyncio.run(run())
    assert calls > 80
    assert scans == [], "collection scans:\n" + "\n".join(scans)
