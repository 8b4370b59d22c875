"""Clients over HTTP: registration, reading, updates with If-Match, the status lifecycle."""

from __future__ import annotations

from typing import Any

from crm_contracts.contacts import ClientRegistered, ClientStatusChanged, ClientUpdated

from .conftest import Contacts, unique_name


async def test_registering_a_client_stores_its_portrait_and_publishes_client_registered(
    contacts: Contacts,
) -> None:
    since = await contacts.offsets()
    name = unique_name("Stroy")
    response = await contacts.api.post(
        "/clients",
        json={
            "name": f"  {name}  ",
            "tax_id": "7707 083893",
            "country": "ru",
            "field_of_activity": {"code": "41.20", "label": "Construction of buildings"},
            "region": "Moscow",
            "size": "medium",
            "tags": ["Builders", "builders", "b2b"],
            "website": "https://stroy.example",
            "addresses": [{"kind": "legal", "text": "Tverskaya 1", "city": "Moscow"}],
            "source": "event",
            "source_event_id": "ev-1",
        },
        headers=contacts.writer,
    )
    assert response.status_code == 201, response.text
    client = response.json()
    assert response.headers["ETag"] == '"1"'
    assert client["name"] == name
    assert client["tax_id"] == "7707083893"
    assert client["country"] == "RU"
    assert client["status"] == "potential"
    assert client["tags"] == ["builders", "b2b"]
    assert client["source"]["kind"] == "event"
    assert client["source"]["event_id"] == "ev-1"

    read = await contacts.api.get(f"/clients/{client['id']}", headers=contacts.reader)
    assert read.status_code == 200
    assert read.json() == client

    [envelope] = await contacts.events(since, client["id"])
    event = envelope.open_as(ClientRegistered)
    assert event.client_id == client["id"]
    assert event.name == name
    assert event.tax_id == "7707083893"
    assert event.field_of_activity is not None
    assert event.field_of_activity.code == "41.20"
    assert event.tags == ("builders", "b2b")
    assert event.version == 1
    assert envelope.producer == "contacts"


async def test_a_malformed_tax_id_is_refused_naming_the_field_and_nothing_is_stored(
    contacts: Contacts,
) -> None:
    name = unique_name()
    response = await contacts.api.post(
        "/clients",
        json={"name": name, "tax_id": "12345", "country": "RU"},
        headers=contacts.writer,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body.tax_id"]
    assert await contacts.db["clients"].count_documents({"name": name}) == 0


async def test_an_unknown_field_is_refused_naming_it(contacts: Contacts) -> None:
    name = unique_name()
    response = await contacts.api.post(
        "/clients", json={"name": name, "colour": "red"}, headers=contacts.writer
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.colour"]
    assert response.json()["errors"][0]["message"] == "unknown field"
    assert await contacts.db["clients"].count_documents({"name": name}) == 0


async def test_updating_a_client_with_if_match_changes_it_and_publishes_client_updated(
    contacts: Contacts,
) -> None:
    client = await contacts.register(region="Tver")
    since = await contacts.offsets()
    response = await contacts.api.patch(
        f"/clients/{client['id']}",
        json={"region": "Moscow", "tags": ["VIP"], "website": None},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["region"] == "Moscow"
    assert response.json()["tags"] == ["vip"]

    [envelope] = await contacts.events(since, client["id"], only=("ClientUpdated",))
    event = envelope.open_as(ClientUpdated)
    assert set(event.changed_fields) == {"region", "tags"}
    assert event.version == 2
    assert event.region == "Moscow"


async def test_an_update_without_if_match_is_refused_with_428(contacts: Contacts) -> None:
    client = await contacts.register()
    response = await contacts.api.patch(
        f"/clients/{client['id']}", json={"region": "Omsk"}, headers=contacts.writer
    )
    assert response.status_code == 428
    assert response.headers["content-type"] == "application/problem+json"
    assert (await contacts.stored_client(client["id"]))["version"] == 1


async def test_a_stale_if_match_is_refused_with_412_and_nothing_changes(
    contacts: Contacts,
) -> None:
    client = await contacts.register(region="Tver")
    first = await contacts.api.patch(
        f"/clients/{client['id']}",
        json={"region": "Omsk"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert first.status_code == 200
    stale = await contacts.api.patch(
        f"/clients/{client['id']}",
        json={"region": "Kazan"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert stale.json()["current_version"] == 2
    stored = await contacts.stored_client(client["id"])
    assert (stored["region"], stored["version"]) == ("Omsk", 2)


async def _move(contacts: Contacts, client: dict[str, Any], to: str, version: int) -> Any:
    return await contacts.api.post(
        f"/clients/{client['id']}/status",
        json={"status": to, "reason": "test"},
        headers={**contacts.writer, "If-Match": f'"{version}"'},
    )


async def test_a_client_moves_along_its_lifecycle_and_each_move_is_an_event(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    since = await contacts.offsets()
    assert (await _move(contacts, client, "active", 1)).status_code == 200
    assert (await _move(contacts, client, "former", 2)).status_code == 200
    back = await _move(contacts, client, "active", 3)
    assert back.status_code == 200
    assert back.json()["status"] == "active"

    envelopes = await contacts.events(since, client["id"], until=3, only=("ClientStatusChanged",))
    moves = [e.open_as(ClientStatusChanged) for e in envelopes]
    assert [(m.from_status.value, m.to_status.value, m.version) for m in moves] == [
        ("potential", "active", 2),
        ("active", "former", 3),
        ("former", "active", 4),
    ]


async def test_an_illegal_status_move_is_refused_with_409_and_nothing_changes(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    response = await _move(contacts, client, "former", 1)
    assert response.status_code == 409
    body = response.json()
    assert body["errors"][0]["field"] == "body.status"
    assert "potential client cannot become former" in body["detail"]
    stored = await contacts.stored_client(client["id"])
    assert (stored["status"], stored["version"]) == ("potential", 1)


async def test_reading_an_unknown_client_is_404(contacts: Contacts) -> None:
    response = await contacts.api.get("/clients/nope", headers=contacts.reader)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_updating_needs_the_write_scope(contacts: Contacts) -> None:
    client = await contacts.register()
    response = await contacts.api.patch(
        f"/clients/{client['id']}",
        json={"region": "Omsk"},
        headers={**contacts.reader, "If-Match": '"1"'},
    )
    assert response.status_code == 403
