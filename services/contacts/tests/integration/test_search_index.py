"""The compact search index answers what the store query would, and stays current."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contacts import domain
from crm_contacts.repository.clients import ClientFilter
from crm_contacts.repository.documents import client_doc
from crm_contacts.repository.search_index import SEARCH, SearchIndex, bucket_of
from crm_contracts.values import ClientKind, ClientStatus, Language

from .conftest import Contacts


async def _search(contacts: Contacts, params: dict[str, Any]) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        query = {**params, "limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await contacts.api.get("/clients", params=query, headers=contacts.reader)
        assert response.status_code == 200, response.text
        ids += [c["id"] for c in response.json()["items"]]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return ids


async def test_search_answers_what_the_store_query_selects(contacts: Contacts) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex[:8]
    digits = str(uuid.uuid4().int)[:3]
    curator = await contacts.employee()
    regions = ["Perm", "Omsk"]
    made: list[dict[str, Any]] = []
    for i, (region, extra, code) in enumerate(
        itertools.product(regions, [[], ["b2b"]], ["62.01", "10.11"])
    ):
        made.append(
            await contacts.register(
                name=f"Probe {marker} {i}",
                country="RU",
                region=region,
                tags=[tag, *extra],
                field_of_activity={"code": code, "label": "x"},
                people=[
                    {
                        "name": f"P {i}",
                        "channels": {
                            "email": f"p{i}.{marker}@probe.example",
                            "mobile": f"+7916{i}{digits}{uuid.uuid4().int % 1000:03d}",
                        },
                    }
                ],
            )
        )
    for client in made[::3]:
        moved = await contacts.api.post(
            f"/clients/{client['id']}/status",
            json={"status": "active"},
            headers={**contacts.writer, "If-Match": '"1"'},
        )
        assert moved.status_code == 200
    for client in made[1::4]:
        current = await contacts.api.get(f"/clients/{client['id']}", headers=contacts.reader)
        assigned = await contacts.api.put(
            f"/clients/{client['id']}/curator",
            json={"employee_id": curator["id"]},
            headers={**contacts.writer, "If-Match": current.headers["ETag"]},
        )
        assert assigned.status_code == 200
    middle = made[4]["registered_at"]

    cases: list[tuple[dict[str, Any], ClientFilter]] = [
        ({}, ClientFilter()),
        ({"status": "active"}, ClientFilter(statuses=(ClientStatus.ACTIVE,))),
        (
            {"status": ["active", "potential"], "region": "Omsk"},
            ClientFilter(statuses=(ClientStatus.ACTIVE, ClientStatus.POTENTIAL), regions=("Omsk",)),
        ),
        (
            {"tag": ["B2B"], "field_of_activity": "62.01"},
            ClientFilter(tags=("B2B",), activity_codes=("62.01",)),
        ),
        ({"curator_id": curator["id"]}, ClientFilter(curator_id=curator["id"])),
        ({"registered_from": middle}, ClientFilter(registered_from=datetime.fromisoformat(middle))),
        ({"registered_to": middle}, ClientFilter(registered_to=datetime.fromisoformat(middle))),
        ({"q": f"probe {marker} 3"}, ClientFilter(text=f"probe {marker} 3")),
        ({"q": f"p5.{marker}@probe"}, ClientFilter(text=f"p5.{marker}@probe")),
        ({"q": f"916 6{digits}"}, ClientFilter(text=f"916 6{digits}")),
    ]
    for params, where in cases:
        cursor = (
            contacts.db["clients"]
            .find({"$and": [where.query(), {"tags": tag}]}, {"_id": 1})
            .sort([("registered_at", 1), ("_id", 1)])
        )
        expected = [d["_id"] async for d in cursor]
        assert expected, params  # every case selects something, so agreement means something
        query = {**params, "tag": [tag, *params.get("tag", [])]}
        assert await _search(contacts, query) == expected, params


async def test_a_merged_client_leaves_the_search_and_the_survivor_shows_what_it_took(
    contacts: Contacts,
) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    survivor = await contacts.register(tags=[tag])
    merged = await contacts.register(tags=[tag, "taken"])
    done = await contacts.api.post(
        f"/clients/{survivor['id']}/merge",
        json={"merged_client_id": merged["id"]},
        headers=contacts.admin,
    )
    assert done.status_code == 200, done.text
    assert await _search(contacts, {"tag": tag}) == [survivor["id"]]
    assert await _search(contacts, {"tag": [tag, "taken"]}) == [survivor["id"]]


def _client_doc(version: int, region: str) -> dict[str, Any]:
    client = domain.Client(
        client_id=str(uuid.uuid4()),
        kind=ClientKind.ORGANISATION,
        name="Stale Guard",
        status=ClientStatus.POTENTIAL,
        registered_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=1500),
        region=region,
        people=(
            domain.Person(
                person_id="p1",
                name="Ivan",
                language=Language.RU,
                channels=domain.Channels.parse({"phone": "+74951234567"}),
                added_at=datetime(2026, 1, 1, tzinfo=UTC),
            ),
        ),
    )
    return {**client_doc(client), "version": version}


async def test_an_older_state_never_replaces_a_newer_entry(mongo_db: Any) -> None:
    index = SearchIndex(mongo_db)
    await index.prepare(mongo_db["clients"])
    newer = _client_doc(3, "Perm")
    older = {**newer, "version": 2, "region": "Omsk"}
    await index.put(newer)
    await index.put(older)
    [entry] = await index.entries()
    assert (entry.client_id, entry.region, entry.phones) == (
        newer["_id"],
        "Perm",
        ("+74951234567",),
    )
    assert entry.registered_at == datetime(2026, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)
    await index.put({**newer, "version": 4, "merged_into": "someone"})
    assert await index.entries() == []


async def test_a_new_index_is_filled_from_the_stored_clients_at_start(mongo_db: Any) -> None:
    docs = [_client_doc(1, "Perm") for _ in range(5)]
    await mongo_db["clients"].insert_many(docs)
    await SearchIndex(mongo_db).prepare(mongo_db["clients"])
    entries = await SearchIndex(mongo_db).entries()
    assert sorted(e.client_id for e in entries) == sorted(d["_id"] for d in docs)
    bucket = await mongo_db[SEARCH].find_one({"_id": bucket_of(docs[0]["_id"])})
    assert bucket["e"][docs[0]["_id"]].startswith("0000000001|")
