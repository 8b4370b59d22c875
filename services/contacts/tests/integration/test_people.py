"""A client's people: normalised channels, preferred channel, consent per channel."""

from __future__ import annotations

from crm_contracts.contacts import ConsentChanged, PersonAdded, PersonUpdated

from .conftest import Contacts, unique_name


async def test_adding_a_person_normalises_channels_and_publishes_person_added(
    contacts: Contacts,
) -> None:
    client = await contacts.register(country="RU")
    since = await contacts.offsets()
    name = unique_name("Ivan")
    response = await contacts.api.post(
        f"/clients/{client['id']}/people",
        json={
            "name": name,
            "position": "Chief engineer",
            "language": "en",
            "channels": {
                "email": " Ivan.Petrov@Example.COM ",
                "phone": "8 (495) 123-45-67",
                "mobile": "+7 916 123-45-67",
            },
            "preferred_channel": "email",
            "consents": ["email", "mobile"],
        },
        headers=contacts.writer,
    )
    assert response.status_code == 201, response.text
    person = response.json()
    assert person["channels"] == {
        "email": "ivan.petrov@example.com",
        "phone": "+74951234567",
        "mobile": "+79161234567",
        "fax": None,
        "pager": None,
    }
    assert person["preferred_channel"] == "email"
    assert [(c["channel"], c["granted"], c["source"]) for c in person["consents"]] == [
        ("email", True, "api"),
        ("mobile", True, "api"),
    ]

    [envelope] = await contacts.events(since, client["id"], only=("PersonAdded",))
    event = envelope.open_as(PersonAdded)
    assert event.person_id == person["id"]
    assert event.channels.phone == "+74951234567"
    assert [c.channel.value for c in event.consents] == ["email", "mobile"]
    assert event.language.value == "en"


async def test_a_malformed_email_is_refused_naming_the_field_and_no_person_is_added(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    response = await contacts.api.post(
        f"/clients/{client['id']}/people",
        json={"name": "Bad Mail", "channels": {"email": "ivan@@example"}},
        headers=contacts.writer,
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["body.channels.email"]
    stored = await contacts.stored_client(client["id"])
    assert (stored["people"], stored["version"]) == ([], 1)


async def test_a_malformed_phone_is_refused_naming_the_field_and_no_person_is_added(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    response = await contacts.api.post(
        f"/clients/{client['id']}/people",
        json={"name": "Bad Phone", "channels": {"mobile": "+7 12"}},
        headers=contacts.writer,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.channels.mobile"]
    stored = await contacts.stored_client(client["id"])
    assert (stored["people"], stored["version"]) == ([], 1)


async def test_every_bad_value_of_a_new_person_is_listed_not_only_the_first(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    response = await contacts.api.post(
        f"/clients/{client['id']}/people",
        json={
            "name": " ",
            "channels": {"email": "ivan@@example", "fax": "abc", "pager": "12 34"},
            "preferred_channel": "fax",
        },
        headers=contacts.writer,
    )
    assert response.status_code == 422, response.text
    assert [(e["field"], e["type"]) for e in response.json()["errors"]] == [
        ("body.channels.email", "invalid-channel"),
        ("body.channels.fax", "invalid-channel"),
        ("body.name", "invalid-input"),
    ]
    stored = await contacts.stored_client(client["id"])
    assert (stored["people"], stored["version"]) == ([], 1)


async def test_every_bad_value_of_a_person_update_is_listed(contacts: Contacts) -> None:
    client = await contacts.register()
    person = await contacts.add_person(client["id"])
    response = await contacts.api.patch(
        f"/clients/{client['id']}/people/{person['id']}",
        json={"name": " ", "channels": {"email": "x@@y", "mobile": "+7 12"}},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == [
        "body.channels.email",
        "body.channels.mobile",
        "body.name",
    ]


async def test_a_preferred_channel_without_an_address_is_refused(contacts: Contacts) -> None:
    client = await contacts.register()
    response = await contacts.api.post(
        f"/clients/{client['id']}/people",
        json={"name": "No Fax", "channels": {"email": "a@example.com"}, "preferred_channel": "fax"},
        headers=contacts.writer,
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["body.preferred_channel"]


async def test_updating_a_person_with_if_match_publishes_person_updated(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    person = await contacts.add_person(client["id"], channels={"email": "upd@example.com"})
    since = await contacts.offsets()
    response = await contacts.api.patch(
        f"/clients/{client['id']}/people/{person['id']}",
        json={"position": "Director", "channels": {"phone": "+44 20 7946 0958"}},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == '"2"'
    assert response.json()["channels"]["email"] == "upd@example.com"
    assert response.json()["channels"]["phone"] == "+442079460958"

    stale = await contacts.api.patch(
        f"/clients/{client['id']}/people/{person['id']}",
        json={"position": "Intern"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert stale.status_code == 412

    [envelope] = await contacts.events(since, client["id"], only=("PersonUpdated",))
    event = envelope.open_as(PersonUpdated)
    assert set(event.changed_fields) == {"position", "channels"}
    assert event.position == "Director"
    assert event.version == 2


async def test_withdrawing_consent_publishes_consent_changed_and_clears_the_preference(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    person = await contacts.add_person(
        client["id"],
        channels={"email": "optout@example.com"},
        preferred_channel="email",
        consents=["email"],
    )
    since = await contacts.offsets()
    url = f"/clients/{client['id']}/people/{person['id']}/consents/email"
    response = await contacts.api.put(
        url, json={"granted": False, "source": "unsubscribe_link"}, headers=contacts.writer
    )
    assert response.status_code == 200, response.text
    assert response.json()["preferred_channel"] is None
    assert [(c["channel"], c["granted"]) for c in response.json()["consents"]] == [("email", False)]
    again = await contacts.api.put(
        url, json={"granted": False, "source": "unsubscribe_link"}, headers=contacts.writer
    )
    assert again.json()["version"] == response.json()["version"]

    envelopes = await contacts.events(
        since, client["id"], until=2, only=("ConsentChanged", "PersonUpdated")
    )
    assert [e.event_type for e in envelopes] == ["ConsentChanged", "PersonUpdated"]
    consent = envelopes[0].open_as(ConsentChanged)
    assert (consent.channel.value, consent.granted, consent.source) == (
        "email",
        False,
        "unsubscribe_link",
    )
    assert envelopes[1].open_as(PersonUpdated).changed_fields == ("preferred_channel",)


async def test_a_person_with_a_known_email_is_refused_as_a_duplicate_unless_insisted(
    contacts: Contacts,
) -> None:
    first = await contacts.register()
    other = await contacts.register()
    email = f"{unique_name('dup').replace(' ', '.')}@example.com"
    known = await contacts.add_person(first["id"], channels={"email": email})
    body = {"name": "Somebody Else", "channels": {"email": email.upper()}}
    refused = await contacts.api.post(
        f"/clients/{other['id']}/people", json=body, headers=contacts.writer
    )
    assert refused.status_code == 409
    assert refused.json()["candidates"] == [
        {
            "client_id": first["id"],
            "person_id": known["id"],
            "name": known["name"],
            "reasons": ["email"],
        }
    ]
    assert (await contacts.stored_client(other["id"]))["people"] == []
    insisted = await contacts.api.post(
        f"/clients/{other['id']}/people?insist=true", json=body, headers=contacts.writer
    )
    assert insisted.status_code == 201


async def test_people_of_a_client_are_listed_in_pages(contacts: Contacts) -> None:
    client = await contacts.register()
    added = [await contacts.add_person(client["id"]) for _ in range(3)]
    first = await contacts.api.get(
        f"/clients/{client['id']}/people?limit=2", headers=contacts.reader
    )
    assert [p["id"] for p in first.json()["items"]] == [p["id"] for p in added[:2]]
    cursor = first.json()["next_cursor"]
    second = await contacts.api.get(
        f"/clients/{client['id']}/people",
        params={"limit": 2, "cursor": cursor},
        headers=contacts.reader,
    )
    assert [p["id"] for p in second.json()["items"]] == [added[2]["id"]]
    assert second.json()["next_cursor"] is None
