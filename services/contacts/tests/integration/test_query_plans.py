"""Every query the repositories send is served by an index: none scans a whole collection."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from crm_contacts.repository import (
    ClientFilter,
    ClientRepository,
    DismissalRepository,
    EmployeeRepository,
    RecordFilter,
    RecordRepository,
    TimelineRepository,
)
from crm_contacts.repository.dismissals import pair_id
from crm_contacts.repository.pagination import Page
from crm_contacts.repository.prospects import ProspectRepository
from crm_contracts.values import ClientStatus, Department
from crm_kit.outbox import Outbox
from crm_kit.runtime import Runtime
from pymongo import AsyncMongoClient, monitoring

from .conftest import Contacts, unique_name

_READS = {"find", "aggregate", "count", "distinct", "update", "delete", "findAndModify"}
_SESSION = {
    "$db",
    "$clusterTime",
    "lsid",
    "txnNumber",
    "writeConcern",
    "readConcern",
    "startTransaction",
    "autocommit",
}


class _Commands(monitoring.CommandListener):
    """The query commands sent through one client."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in _READS:
            self.sent.append({k: v for k, v in event.command.items() if k not in _SESSION})

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _scans(plan: Any) -> Iterator[str]:
    """Every sign of a collection scan in an explain answer, at any depth."""
    if isinstance(plan, dict):
        if plan.get("stage") == "COLLSCAN":
            yield str(plan.get("filter"))
        if plan.get("collectionScans"):
            yield f"$lookup: {plan.get('collectionScans')} collection scans"
        for value in plan.values():
            yield from _scans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _scans(value)


async def _seed(contacts: Contacts) -> dict[str, str]:
    tax_id = str(uuid.uuid4().int)[:10]
    first = await contacts.register(
        tax_id=tax_id,
        country="RU",
        region="Perm",
        tags=["b2b"],
        people=[{"name": "Ivan", "channels": {"email": f"i.{tax_id}@plan.example"}}],
    )
    twin = (
        await contacts.api.post(
            "/clients?insist=true",
            json={"name": unique_name(), "tax_id": tax_id, "country": "RU"},
            headers=contacts.writer,
        )
    ).json()
    employee = await contacts.employee()
    record = await contacts.api.post(
        "/contacts",
        json={
            "client_id": first["id"],
            "employee_id": employee["id"],
            "kind": "call",
            "occurred_at": "2026-11-20T10:00:00Z",
            "summary": "Called",
        },
        headers=contacts.writer,
    )
    assert record.status_code == 201, record.text
    dismissed = await contacts.api.post(
        "/duplicates/dismissals",
        json={"client_ids": [first["id"], twin["id"]]},
        headers=contacts.writer,
    )
    assert dismissed.status_code == 201, dismissed.text
    return {
        "client": first["id"],
        "twin": twin["id"],
        "person": (await contacts.stored_client(first["id"]))["people"][0]["person_id"],
        "employee": employee["id"],
        "record": record.json()["id"],
        "tax_id": tax_id,
    }


async def _every_query(runtime: Runtime, seed: dict[str, str]) -> None:
    clients = ClientRepository(runtime)
    await clients.get(seed["client"])
    await clients.get_many([seed["client"], seed["twin"]])
    await clients.matching([f"tax:{seed['tax_id']}", "email:nobody@plan.example"], limit=1)
    await clients.client_id_of_person(seed["person"])
    await clients.by_questionnaire_response("no-such-response")
    await clients.refresh_shared(seed["client"])
    await clients.sharing_keys()
    at = datetime(2026, 1, 1, tzinfo=UTC)
    for where in (
        ClientFilter(),
        ClientFilter(registered_from=at),
        ClientFilter(statuses=(ClientStatus.POTENTIAL,), regions=("Perm",), tags=("b2b",)),
        ClientFilter(statuses=(ClientStatus.POTENTIAL, ClientStatus.ACTIVE), curator_id="e1"),
        ClientFilter(text="ivan petrov", registered_to=at),
        ClientFilter(text=f"i.{seed['tax_id']}@plan"),
        ClientFilter(text="+7 916 555-12-34", regions=("Perm",)),
    ):
        page: Page[Any] = await clients.search(where, cursor=None, limit=1)
        await clients.search(where, cursor=page.next_cursor, limit=1)
    records = RecordRepository(runtime)
    await records.get(seed["record"])
    for field in ("client_id", "employee_id", "person_id", "event_id", "proposal_id"):
        page = await records.list(RecordFilter(**{field: "x"}), cursor=None, limit=1)
    page = await records.list(RecordFilter(client_id=seed["client"]), cursor=None, limit=1)
    await records.list(RecordFilter(), cursor=page.next_cursor, limit=1)
    await records.ids_of_client(seed["client"])
    employees = EmployeeRepository(runtime)
    await employees.get(seed["employee"])
    page = await employees.list(department=Department.SALES, active=True, cursor=None, limit=1)
    await employees.list(department=None, active=False, cursor=page.next_cursor, limit=1)
    await employees.list(department=None, active=None, cursor=None, limit=1)
    timeline = TimelineRepository(runtime)
    page = await timeline.list(seed["client"], cursor=None, limit=1)
    await timeline.repoint(from_client="no-such-client", to_client=seed["client"])
    prospects = ProspectRepository(runtime)
    await prospects.registered_before(at, after=None, limit=1)
    await prospects.registered_before(at, after=(at, seed["client"]), limit=1)
    await prospects.expire(seed["client"], lambda client, gone: None)  # read, judged, kept
    dismissals = DismissalRepository(runtime)
    await dismissals.of_pairs([pair_id(seed["client"], seed["twin"])])
    page = await dismissals.list(cursor=None, limit=1)
    await dismissals.list(cursor=page.next_cursor, limit=1)


async def test_every_query_of_the_repositories_is_served_by_an_index(contacts: Contacts) -> None:
    seed = await _seed(contacts)
    await contacts.register()  # a second page of each list
    commands = _Commands()
    watched: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        contacts.stack.mongo_uri,
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[commands],
    )
    try:
        runtime = contacts.app.state.runtime
        db = watched[runtime.db.name]
        events = Outbox(db, producer="contacts")  # its transactions on the watched client
        await _every_query(dataclasses.replace(runtime, client=watched, db=db, events=events), seed)
        queried = {str(next(iter(c.values()))) for c in commands.sent}
        assert queried == {"clients", "contacts", "employees", "timeline", "duplicate_dismissals"}
        scans: dict[str, list[str]] = {}
        for command in commands.sent:
            if "explain" in command:
                continue
            answer = await db.command({"explain": command, "verbosity": "executionStats"})
            found = list(_scans(answer))
            if found:
                scans[str(command)] = found
        assert scans == {}
    finally:
        await watched.close()
