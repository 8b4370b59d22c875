"""Employees, and curators: only an active sales employee, with the history kept."""

from __future__ import annotations

from crm_contracts.contacts import CuratorAssigned, EmployeeRegistered, EmployeeUpdated

from .conftest import Contacts


async def test_registering_an_employee_publishes_employee_registered(contacts: Contacts) -> None:
    since = await contacts.offsets()
    employee = await contacts.employee(
        department="service", role="engineer", channels={"pager": "12 34 56"}
    )
    assert employee["channels"]["pager"] == "123456"
    assert employee["active"] is True
    [envelope] = await contacts.events(since, employee["id"])
    event = envelope.open_as(EmployeeRegistered)
    assert (event.employee_id, event.department.value, event.role) == (
        employee["id"],
        "service",
        "engineer",
    )


async def test_deactivating_an_employee_publishes_employee_updated(contacts: Contacts) -> None:
    employee = await contacts.employee()
    since = await contacts.offsets()
    response = await contacts.api.patch(
        f"/employees/{employee['id']}",
        json={"active": False},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 200
    assert response.json()["active"] is False
    [envelope] = await contacts.events(since, employee["id"], only=("EmployeeUpdated",))
    assert envelope.open_as(EmployeeUpdated).changed_fields == ("active",)


async def test_assigning_and_reassigning_a_curator_keeps_the_history(contacts: Contacts) -> None:
    client = await contacts.register()
    first, second = await contacts.employee(), await contacts.employee()
    since = await contacts.offsets()
    url = f"/clients/{client['id']}/curator"
    assigned = await contacts.api.put(
        url, json={"employee_id": first["id"]}, headers={**contacts.writer, "If-Match": '"1"'}
    )
    assert assigned.status_code == 200, assigned.text
    reassigned = await contacts.api.put(
        url, json={"employee_id": second["id"]}, headers={**contacts.writer, "If-Match": '"2"'}
    )
    assert reassigned.status_code == 200, reassigned.text
    view = (await contacts.api.get(url, headers=contacts.reader)).json()
    assert view["curator_id"] == second["id"]
    assert [h["curator_id"] for h in view["history"]] == [first["id"], second["id"]]
    assert view["history"][0]["ended_at"] is not None
    assert view["history"][1]["ended_at"] is None

    envelopes = await contacts.events(since, client["id"], until=2, only=("CuratorAssigned",))
    events = [e.open_as(CuratorAssigned) for e in envelopes]
    assert [(e.curator_id, e.previous_curator_id) for e in events] == [
        (first["id"], None),
        (second["id"], first["id"]),
    ]
    assert events[0].client_name == client["name"]

    found = await contacts.api.get(
        "/clients", params={"curator_id": second["id"]}, headers=contacts.reader
    )
    assert [c["id"] for c in found.json()["items"]] == [client["id"]]


async def test_only_a_sales_employee_may_be_a_curator(contacts: Contacts) -> None:
    client = await contacts.register()
    marketer = await contacts.employee(department="marketing")
    response = await contacts.api.put(
        f"/clients/{client['id']}/curator",
        json={"employee_id": marketer["id"]},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "body.employee_id"
    assert (await contacts.stored_client(client["id"]))["curators"] == []


async def test_an_inactive_sales_employee_may_not_be_a_curator(contacts: Contacts) -> None:
    client = await contacts.register()
    retired = await contacts.employee(active=False)
    response = await contacts.api.put(
        f"/clients/{client['id']}/curator",
        json={"employee_id": retired["id"]},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 409
    assert "not active" in response.json()["detail"]


async def test_an_unknown_employee_as_curator_is_refused_naming_the_field(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    response = await contacts.api.put(
        f"/clients/{client['id']}/curator",
        json={"employee_id": "nobody"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.employee_id"


async def test_employees_are_listed_by_department_in_pages(contacts: Contacts) -> None:
    made = [await contacts.employee(department="logistics") for _ in range(3)]
    ids = {e["id"] for e in made}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"department": "logistics", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await contacts.api.get("/employees", params=params, headers=contacts.reader)).json()
        seen += [e["id"] for e in page["items"] if e["id"] in ids]
        assert all(e["department"] == "logistics" for e in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in made]
