"""The audit trail on the real stack: each change made through the API is recorded with the
employee and the app, in the event's envelope and in ``GET /audit/{entity_id}``; a refused
change records nothing."""

from __future__ import annotations

from crm_kit.testing import bearer

from .conftest import Contacts, unique_name


async def test_who_changed_a_client_through_which_app_is_recorded_and_answered(
    contacts: Contacts,
) -> None:
    seller = bearer(
        contacts.keys,
        "contacts:read",
        "contacts:write",
        subject="crm-console",
        roles=("sales",),
        employee_id="emp-olga",
    )
    since = await contacts.offsets()
    registered = await contacts.api.post("/clients", json={"name": unique_name()}, headers=seller)
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["id"]
    updated = await contacts.api.patch(
        f"/clients/{client_id}",
        json={"region": "Tver"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert updated.status_code == 200, updated.text
    refused = await contacts.api.patch(
        f"/clients/{client_id}", json={"region": "Omsk"}, headers={**seller, "If-Match": '"1"'}
    )
    assert refused.status_code == 412

    envelopes = await contacts.events(
        since, client_id, until=2, only=("ClientRegistered", "ClientUpdated")
    )
    assert [(e.event_type, e.actor.app if e.actor else None) for e in envelopes] == [
        ("ClientRegistered", "crm-console"),
        ("ClientUpdated", "test-app"),
    ]
    assert envelopes[0].actor is not None
    assert envelopes[0].actor.employee_id == "emp-olga"

    trail = await contacts.api.get(f"/audit/{client_id}", headers=contacts.reader)
    assert trail.status_code == 200, trail.text
    items = trail.json()["items"]
    assert [(i["event_type"], i["actor"]) for i in items] == [
        ("ClientRegistered", {"app": "crm-console", "employee_id": "emp-olga"}),
        ("ClientUpdated", {"app": "test-app", "employee_id": None}),
    ]
    assert [i["event_id"] for i in items] == [str(e.event_id) for e in envelopes]
    assert items[0]["correlation_id"] == registered.headers["X-Correlation-ID"]

    first_page = await contacts.api.get(
        f"/audit/{client_id}", params={"limit": 1}, headers=contacts.reader
    )
    cursor = first_page.json()["next_cursor"]
    assert cursor
    second_page = await contacts.api.get(
        f"/audit/{client_id}", params={"limit": 1, "cursor": cursor}, headers=contacts.reader
    )
    assert [i["event_type"] for i in second_page.json()["items"]] == ["ClientUpdated"]
    assert second_page.json()["next_cursor"] is None


async def test_the_audit_trail_needs_a_reader(contacts: Contacts) -> None:
    anonymous = await contacts.api.get("/audit/anything")
    no_role = await contacts.api.get(
        "/audit/anything", headers=bearer(contacts.keys, "contacts:read", roles=())
    )

    assert anonymous.status_code == 401
    assert no_role.status_code == 403
