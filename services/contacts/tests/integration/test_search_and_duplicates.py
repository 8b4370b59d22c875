"""Search with filters, text and cursor pages; duplicates refused, listed and merged."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contracts.contacts import ClientRegistered, ClientsMerged, PersonAdded

from .conftest import Contacts, unique_name


async def _all_pages(contacts: Contacts, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await contacts.api.get("/clients", params=query, headers=contacts.reader)
        assert response.status_code == 200, response.text
        ids += [c["id"] for c in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return ids


async def test_search_filters_by_portrait_and_pages_in_registration_order(
    contacts: Contacts,
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    activity = {"code": "62.01", "label": "Software"}
    wanted = [
        await contacts.register(region="Perm", tags=[tag, "b2b"], field_of_activity=activity)
        for _ in range(3)
    ]
    await contacts.register(region="Omsk", tags=[tag, "b2b"], field_of_activity=activity)
    await contacts.register(region="Perm", tags=[tag], field_of_activity=activity)
    params = {"tag": [tag, "b2b"], "region": "Perm", "field_of_activity": "62.01", "limit": 2}
    assert await _all_pages(contacts, params) == [c["id"] for c in wanted]

    moved = await contacts.api.post(
        f"/clients/{wanted[1]['id']}/status",
        json={"status": "active"},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert moved.status_code == 200
    assert await _all_pages(contacts, {"tag": tag, "status": "active"}) == [wanted[1]["id"]]


async def test_text_search_finds_by_name_email_and_phone(contacts: Contacts) -> None:
    marker = uuid.uuid4().hex[:10]
    by_name = await contacts.register(name=f"Northern Lights {marker}")
    by_mail = await contacts.register()
    await contacts.add_person(by_mail["id"], channels={"email": f"x.{marker}@mail.example"})
    by_phone = await contacts.register()
    await contacts.add_person(by_phone["id"], channels={"mobile": "+7 916 555-12-34"})
    assert await _all_pages(contacts, {"q": f"lights {marker.upper()}"}) == [by_name["id"]]
    assert await _all_pages(contacts, {"q": f"{marker}@mail"}) == [by_mail["id"]]
    assert by_phone["id"] in await _all_pages(contacts, {"q": "916 555 12 34"})


async def test_search_by_registration_period(contacts: Contacts) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    client = await contacts.register(tags=[tag])
    at = client["registered_at"]
    assert await _all_pages(contacts, {"tag": tag, "registered_from": at}) == [client["id"]]
    assert await _all_pages(contacts, {"tag": tag, "registered_to": at}) == []


async def test_a_garbled_cursor_is_refused_naming_it(contacts: Contacts) -> None:
    response = await contacts.api.get(
        "/clients", params={"cursor": "garbage!"}, headers=contacts.reader
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_a_client_with_a_known_tax_id_is_refused_with_candidates_unless_insisted(
    contacts: Contacts,
) -> None:
    tax_id = str(uuid.uuid4().int)[:10]
    first = await contacts.register(tax_id=tax_id, country="RU")
    name = unique_name()
    body = {"name": name, "tax_id": tax_id, "country": "RU"}
    refused = await contacts.api.post("/clients", json=body, headers=contacts.writer)
    assert refused.status_code == 409
    assert refused.json()["candidates"] == [
        {"id": first["id"], "name": first["name"], "status": "potential", "reasons": ["tax_id"]}
    ]
    assert await contacts.db["clients"].count_documents({"name": name}) == 0
    insisted = await contacts.api.post(
        "/clients", params={"insist": "true"}, json=body, headers=contacts.writer
    )
    assert insisted.status_code == 201


async def test_a_client_with_the_same_normalised_name_is_a_likely_duplicate(
    contacts: Contacts,
) -> None:
    marker = uuid.uuid4().hex[:8]
    await contacts.register(name=f"Acme {marker} LLC")
    refused = await contacts.api.post(
        "/clients", json={"name": f'OOO "ACME {marker}"'}, headers=contacts.writer
    )
    assert refused.status_code == 409
    assert refused.json()["candidates"][0]["reasons"] == ["name"]


async def test_registering_with_a_known_persons_email_or_phone_is_refused_unless_insisted(
    contacts: Contacts,
) -> None:
    marker = uuid.uuid4().hex[:10]
    email = f"buyer.{marker}@example.com"
    digits = str(uuid.uuid4().int)[:7]
    known = await contacts.register(
        country="RU",
        people=[{"name": "Ivan Petrov", "channels": {"email": email, "phone": f"8495{digits}"}}],
    )
    assert known["people_count"] == 1

    by_email = {
        "name": unique_name(),
        "people": [{"name": "I. P.", "channels": {"email": email.upper()}}],
    }
    by_phone = {
        "name": unique_name(),
        "country": "RU",
        "people": [
            {"name": "Other", "channels": {"mobile": f"+7 (495) {digits[:3]}-{digits[3:]}"}}
        ],
    }
    for body, reason in ((by_email, "email"), (by_phone, "phone")):
        refused = await contacts.api.post("/clients", json=body, headers=contacts.writer)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["candidates"] == [
            {"id": known["id"], "name": known["name"], "status": "potential", "reasons": [reason]}
        ]
        assert await contacts.db["clients"].count_documents({"name": body["name"]}) == 0

    since = await contacts.offsets()
    insisted = await contacts.api.post(
        "/clients", params={"insist": "true"}, json=by_phone, headers=contacts.writer
    )
    assert insisted.status_code == 201, insisted.text
    created = insisted.json()
    assert (created["people_count"], created["version"]) == (1, 1)
    stored = await contacts.stored_client(created["id"])
    assert stored["people"][0]["channels"]["mobile"] == f"+7495{digits}"
    envelopes = await contacts.events(
        since, created["id"], until=2, only=("ClientRegistered", "PersonAdded")
    )
    assert [e.event_type for e in envelopes] == ["ClientRegistered", "PersonAdded"]
    assert envelopes[0].open_as(ClientRegistered).name == by_phone["name"]
    added = envelopes[1].open_as(PersonAdded)
    assert (added.person_id, added.channels.mobile) == (
        stored["people"][0]["person_id"],
        f"+7495{digits}",
    )


async def test_a_bad_phone_of_a_person_given_at_registration_is_refused_naming_it(
    contacts: Contacts,
) -> None:
    name = unique_name()
    body = {
        "name": name,
        "people": [{"name": "Fine"}, {"name": "Broken", "channels": {"phone": "12ab"}}],
    }
    refused = await contacts.api.post("/clients", json=body, headers=contacts.writer)
    assert refused.status_code == 422
    assert [e["field"] for e in refused.json()["errors"]] == ["body.people[1].channels.phone"]
    assert refused.json()["type"] == "https://crm.example/problems/invalid-channel"
    assert await contacts.db["clients"].count_documents({"name": name}) == 0


async def test_every_bad_value_of_a_registration_is_listed_each_at_its_path(
    contacts: Contacts,
) -> None:
    name = unique_name()
    body = {
        "name": name,
        "country": "RU",
        "tax_id": "12345",
        "people": [
            {
                "name": "Two bad",
                "channels": {"email": "ivan@@example", "phone": "12ab", "mobile": "+7 12"},
            },
            {"name": "Fine", "channels": {"email": "fine@example.com"}},
            {"name": "   ", "channels": {"email": "fine@example.com"}, "consents": ["fax"]},
            {"name": "Bad mail", "channels": {"email": "no-at-sign"}, "preferred_channel": "email"},
        ],
    }
    refused = await contacts.api.post("/clients", json=body, headers=contacts.writer)

    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "https://crm.example/problems/invalid-input"
    assert problem["detail"] == "7 fields are invalid; see errors"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("body.tax_id", "invalid-tax-id"),
        ("body.people[0].channels.email", "invalid-channel"),
        ("body.people[0].channels.phone", "invalid-channel"),
        ("body.people[0].channels.mobile", "invalid-channel"),
        ("body.people[2].name", "invalid-input"),
        ("body.people[2].consents", "channel-without-address"),
        ("body.people[3].channels.email", "invalid-channel"),
    ]
    assert await contacts.db["clients"].count_documents({"name": name}) == 0


async def test_a_person_added_later_is_refused_when_the_phone_or_the_name_is_known(
    contacts: Contacts,
) -> None:
    first = await contacts.register(country="RU")
    other = await contacts.register(country="RU")
    digits = str(uuid.uuid4().int)[:7]
    known = await contacts.add_person(
        first["id"], name="Anna Lee", channels={"phone": f"+7812{digits}"}
    )
    by_phone = {"name": "Someone", "channels": {"fax": f"8 812 {digits}"}}
    refused = await contacts.api.post(
        f"/clients/{other['id']}/people", json=by_phone, headers=contacts.writer
    )
    assert refused.status_code == 409
    assert [(c["person_id"], c["reasons"]) for c in refused.json()["candidates"]] == [
        (known["id"], ["phone"])
    ]
    # The same name is a likely duplicate within one client only.
    same_name = await contacts.api.post(
        f"/clients/{first['id']}/people", json={"name": "ANNA  LEE"}, headers=contacts.writer
    )
    assert same_name.status_code == 409
    assert same_name.json()["candidates"][0]["reasons"] == ["name"]
    elsewhere = await contacts.api.post(
        f"/clients/{other['id']}/people", json={"name": "Anna Lee"}, headers=contacts.writer
    )
    assert elsewhere.status_code == 201
    assert (await contacts.stored_client(first["id"]))["people"][0]["person_id"] == known["id"]
    assert len((await contacts.stored_client(first["id"]))["people"]) == 1


async def _pairs(contacts: Contacts) -> list[dict[str, Any]]:
    pairs: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (
            await contacts.api.get("/duplicates", params=params, headers=contacts.reader)
        ).json()
        pairs += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return pairs


async def test_merging_moves_people_and_records_and_the_merged_id_points_at_the_survivor(
    contacts: Contacts,
) -> None:
    tax_id = str(uuid.uuid4().int)[:10]
    survivor = await contacts.register(tax_id=tax_id, country="RU")
    duplicate = (
        await contacts.api.post(
            "/clients?insist=true",
            json={"name": unique_name(), "tax_id": tax_id, "country": "RU", "tags": ["vip"]},
            headers=contacts.writer,
        )
    ).json()
    person = await contacts.add_person(duplicate["id"])
    employee = await contacts.employee()
    record = (
        await contacts.api.post(
            "/contacts",
            json={
                "client_id": duplicate["id"],
                "employee_id": employee["id"],
                "kind": "call",
                "occurred_at": "2026-11-20T10:00:00Z",
                "summary": "Called the duplicate",
            },
            headers=contacts.writer,
        )
    ).json()

    # A timeline entry of the duplicate (this module runs no consumers to make one).
    await contacts.db["timeline"].insert_one(
        {
            "_id": "entry-of-the-duplicate",
            "client_id": duplicate["id"],
            "at": datetime(2026, 11, 19, tzinfo=UTC),
            "kind": "invited",
            "source": "campaigns",
            "summary": "Invited",
            "refs": {},
        }
    )
    pair_ids = sorted([survivor["id"], duplicate["id"]])
    listed = [p for p in await _pairs(contacts) if sorted(p["client_ids"]) == pair_ids]
    assert [p["reasons"] for p in listed] == [["tax_id"]]

    url = f"/clients/{survivor['id']}/merge"
    forbidden = await contacts.api.post(
        url, json={"merged_client_id": duplicate["id"]}, headers=contacts.writer
    )
    assert forbidden.status_code == 403

    since = await contacts.offsets()
    merged = await contacts.api.post(
        url, json={"merged_client_id": duplicate["id"]}, headers=contacts.admin
    )
    assert merged.status_code == 200, merged.text
    result = merged.json()
    assert result["moved_person_ids"] == [person["id"]]
    assert result["moved_contact_ids"] == [record["id"]]
    assert result["survivor"]["people_count"] == 1
    assert result["survivor"]["tags"] == ["vip"]

    pointer = await contacts.api.get(f"/clients/{duplicate['id']}", headers=contacts.reader)
    assert pointer.status_code == 301
    assert pointer.headers["Location"] == f"/clients/{survivor['id']}"
    assert pointer.json() == {"id": duplicate["id"], "merged_into": survivor["id"]}
    curator = await contacts.api.get(f"/clients/{duplicate['id']}/curator", headers=contacts.reader)
    assert curator.status_code == 301
    assert curator.headers["Location"] == f"/clients/{survivor['id']}/curator"
    timeline = await contacts.api.get(
        f"/clients/{duplicate['id']}/timeline", headers=contacts.reader
    )
    assert [e["id"] for e in timeline.json()["items"]] == ["entry-of-the-duplicate"]
    survivor_timeline = await contacts.api.get(
        f"/clients/{survivor['id']}/timeline", headers=contacts.reader
    )
    assert [e["id"] for e in survivor_timeline.json()["items"]] == ["entry-of-the-duplicate"]
    moved = await contacts.api.get(f"/contacts/{record['id']}", headers=contacts.reader)
    assert moved.json()["client_id"] == survivor["id"]
    people = await contacts.api.get(f"/clients/{survivor['id']}/people", headers=contacts.reader)
    assert [p["id"] for p in people.json()["items"]] == [person["id"]]
    assert [p for p in await _pairs(contacts) if sorted(p["client_ids"]) == pair_ids] == []

    write_to_merged = await contacts.api.patch(
        f"/clients/{duplicate['id']}",
        json={"region": "Omsk"},
        headers={**contacts.writer, "If-Match": '"3"'},
    )
    assert write_to_merged.status_code == 409
    assert write_to_merged.json()["survivor_client_id"] == survivor["id"]

    [envelope] = await contacts.events(since, duplicate["id"], only=("ClientsMerged",))
    event = envelope.open_as(ClientsMerged)
    assert (event.survivor_client_id, event.moved_person_ids, event.moved_contact_ids) == (
        survivor["id"],
        (person["id"],),
        (record["id"],),
    )


async def test_a_pair_dismissed_as_not_duplicates_leaves_the_list_until_it_shares_more(
    contacts: Contacts,
) -> None:
    marker = uuid.uuid4().hex[:8]
    first = await contacts.register(name=f"Twin {marker}")
    second = (
        await contacts.api.post(
            "/clients?insist=true", json={"name": f"TWIN {marker} Ltd"}, headers=contacts.writer
        )
    ).json()
    pair_ids = sorted([first["id"], second["id"]])

    async def listed() -> list[list[str]]:
        return [p["reasons"] for p in await _pairs(contacts) if sorted(p["client_ids"]) == pair_ids]

    assert await listed() == [["name"]]

    body = {"client_ids": [second["id"], first["id"]], "note": "different towns"}
    forbidden = await contacts.api.post(
        "/duplicates/dismissals", json=body, headers=contacts.reader
    )
    assert forbidden.status_code == 403
    dismissed = await contacts.api.post(
        "/duplicates/dismissals", json=body, headers=contacts.writer
    )
    assert dismissed.status_code == 201, dismissed.text
    record = dismissed.json()
    assert (record["client_ids"], record["reasons"], record["note"], record["dismissed_by"]) == (
        pair_ids,
        ["name"],
        "different towns",
        "test-app",
    )
    assert await listed() == []

    again = await contacts.api.post(
        "/duplicates/dismissals", json={"client_ids": pair_ids}, headers=contacts.writer
    )
    assert again.status_code == 200
    assert again.json() == record

    kept: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (
            await contacts.api.get("/duplicates/dismissals", params=params, headers=contacts.reader)
        ).json()
        kept += [d for d in page["items"] if d["client_ids"] == pair_ids]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert kept == [record]

    # Sharing something new (a person's e-mail) brings the pair back.
    email = f"shared.{marker}@example.com"
    await contacts.add_person(first["id"], channels={"email": email})
    shared = await contacts.api.post(
        f"/clients/{second['id']}/people?insist=true",
        json={"name": "Someone", "channels": {"email": email}},
        headers=contacts.writer,
    )
    assert shared.status_code == 201
    assert await listed() == [["email", "name"]]


async def test_a_dismissal_of_a_client_with_itself_or_an_unknown_one_is_refused(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    before = await contacts.db["duplicate_dismissals"].count_documents({})
    for ids, field in (
        ([client["id"], client["id"]], "body.client_ids"),
        ([client["id"], str(uuid.uuid4())], "body.client_ids[1]"),
        ([client["id"]], "body.client_ids"),
    ):
        refused = await contacts.api.post(
            "/duplicates/dismissals", json={"client_ids": ids}, headers=contacts.writer
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["errors"][0]["field"] == field
    assert await contacts.db["duplicate_dismissals"].count_documents({}) == before


async def test_two_clients_registered_at_once_with_one_tax_id_are_listed_as_a_pair(
    contacts: Contacts,
) -> None:
    tax_id = str(uuid.uuid4().int)[:10]
    bodies = [{"name": unique_name(), "tax_id": tax_id, "country": "RU"} for _ in range(2)]
    created = await asyncio.gather(
        *(
            contacts.api.post(
                "/clients", params={"insist": "true"}, json=b, headers=contacts.writer
            )
            for b in bodies
        )
    )
    assert [r.status_code for r in created] == [201, 201]
    pair_ids = sorted(r.json()["id"] for r in created)
    listed = [p for p in await _pairs(contacts) if sorted(p["client_ids"]) == pair_ids]
    assert [p["reasons"] for p in listed] == [["tax_id"]]


async def test_a_key_a_client_no_longer_holds_is_no_match(contacts: Contacts) -> None:
    old_tax, new_tax = str(uuid.uuid4().int)[:10], str(uuid.uuid4().int)[:10]
    client = await contacts.register(tax_id=old_tax, country="RU")
    read = await contacts.api.get(f"/clients/{client['id']}", headers=contacts.reader)
    changed = await contacts.api.patch(
        f"/clients/{client['id']}",
        json={"tax_id": new_tax},
        headers={**contacts.writer, "If-Match": read.headers["ETag"]},
    )
    assert changed.status_code == 200, changed.text
    body = {"name": unique_name(), "tax_id": old_tax, "country": "RU"}
    accepted = await contacts.api.post("/clients", json=body, headers=contacts.writer)
    assert accepted.status_code == 201, accepted.text


async def test_a_pair_leaves_the_list_once_it_shares_nothing_any_more(contacts: Contacts) -> None:
    tax_id = str(uuid.uuid4().int)[:10]
    first = await contacts.register(tax_id=tax_id, country="RU")
    second = (
        await contacts.api.post(
            "/clients?insist=true",
            json={"name": unique_name(), "tax_id": tax_id, "country": "RU"},
            headers=contacts.writer,
        )
    ).json()
    pair_ids = sorted([first["id"], second["id"]])

    async def listed() -> list[list[str]]:
        return [p["reasons"] for p in await _pairs(contacts) if sorted(p["client_ids"]) == pair_ids]

    assert await listed() == [["tax_id"]]
    changed = await contacts.api.patch(
        f"/clients/{first['id']}",
        json={"tax_id": str(uuid.uuid4().int)[:10]},
        headers={**contacts.writer, "If-Match": '"1"'},
    )
    assert changed.status_code == 200, changed.text
    assert await listed() == []
