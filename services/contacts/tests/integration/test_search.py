"""Client search: each filter and text query selects what it says; older databases catch up."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contacts import domain
from crm_contacts.repository import create_indexes
from crm_contacts.repository.documents import client_doc
from crm_contacts.repository.indexes import FORMAT
from crm_contacts.repository.search import search_channels, search_terms
from crm_contracts.values import ClientKind, ClientStatus, Language
from crm_kit.store_format import FORMATS

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


async def test_each_filter_and_text_query_selects_what_it_says(contacts: Contacts) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    # A letter first: a word of the query such as "3" would otherwise also match the prefix of
    # a marker that happens to begin with that digit, in every client's name.
    marker = "m" + uuid.uuid4().hex[:7]
    digits = str(uuid.uuid4().int)[:3]
    curator = await contacts.employee()
    made: list[dict[str, Any]] = []
    for i, (region, extra, code) in enumerate(
        itertools.product(["Perm", "Omsk"], [[], ["b2b"]], ["62.01", "10.11"])
    ):
        client = await contacts.register(
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
        made.append({**client, "i": i, "code": code, "curated": False})
    for client in made[::3]:
        moved = await contacts.api.post(
            f"/clients/{client['id']}/status",
            json={"status": "active"},
            headers={**contacts.writer, "If-Match": '"1"'},
        )
        assert moved.status_code == 200
        client["status"] = "active"
    for client in made[1::4]:
        await contacts.curate(client["id"], curator["id"])
        client["curated"] = True
    middle = made[4]["registered_at"]

    cases: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
        ({}, lambda c: True),
        ({"status": "active"}, lambda c: c["status"] == "active"),
        (
            {"status": ["active", "potential"], "region": "Omsk"},
            lambda c: c["region"] == "Omsk",
        ),
        (
            {"region": ["Omsk", "Perm"], "field_of_activity": "10.11"},
            lambda c: c["code"] == "10.11",
        ),
        (
            {"tag": ["B2B"], "field_of_activity": "62.01"},
            lambda c: "b2b" in c["tags"] and c["code"] == "62.01",
        ),
        ({"curator_id": curator["id"]}, lambda c: c["curated"]),
        ({"registered_from": middle}, lambda c: c["i"] >= 4),
        ({"registered_to": middle}, lambda c: c["i"] < 4),
        ({"q": f"probe {marker} 3"}, lambda c: c["i"] == 3),
        ({"q": f"{marker[:4].upper()} pro"}, lambda c: True),
        ({"q": f"p5.{marker}@probe"}, lambda c: c["i"] == 5),
        ({"q": f"{marker}@probe.example"}, lambda c: True),
        ({"q": f"916 6{digits}"}, lambda c: c["i"] == 6),
        ({"q": f"robe {marker}"}, lambda c: False),  # not the start of a word
    ]
    for params, wanted in cases:
        expected = [c["id"] for c in made if wanted(c)]
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


def _client(name: str, tax_id: str | None = None, **fields: Any) -> domain.Client:
    client, _ = domain.register_client(
        client_id=str(uuid.uuid4()),
        kind=ClientKind.ORGANISATION,
        name=name,
        now=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=len(name)),
        tax_id=tax_id,
        region="Perm",
    )
    client, _ = client.add_person(
        person_id=str(uuid.uuid4()),
        name="Ivan",
        language=Language.RU,
        channels=domain.Channels.parse({"phone": "+74951234567"}),
        now=client.registered_at,
    )
    return replace(client, **fields)


async def test_a_database_from_before_gets_search_terms_and_duplicate_marks_at_start(
    mongo_db: Any,
) -> None:
    """What the clients of an older database lack is derived once, at the next start."""
    clients = [
        _client("Acme", "7707083893"),
        _client("Zenith", "7707083893", status=ClientStatus.ACTIVE),
        _client("Nord"),
    ]
    old_docs = []
    for client in clients:
        doc = client_doc(client)
        del doc["search_terms"], doc["search_channels"]
        old_docs.append({**doc, "version": 1, "name_norm": "x", "emails": [], "outbox": []})
    await mongo_db["clients"].insert_many(old_docs)
    await mongo_db["client_search"].insert_one({"_id": "rev", "r": {}})
    await mongo_db["clients"].create_index("tags")

    for _ in range(2):  # the second start finds it done
        await create_indexes(mongo_db)
        stored = {d["_id"]: d async for d in mongo_db["clients"].find()}
        for client in clients:
            doc = stored[client.client_id]
            assert doc["search_terms"] == search_terms(client)
            assert doc["search_channels"] == search_channels(client)
            assert not {"name_norm", "emails"} & set(doc)
        # The phone is every client's: a key that makes a pair, marked on each holder.
        assert {k: sorted(d.get("shared", ())) for k, d in stored.items()} == {
            clients[0].client_id: ["phone:+74951234567", "tax:7707083893"],
            clients[1].client_id: ["phone:+74951234567", "tax:7707083893"],
            clients[2].client_id: ["phone:+74951234567"],
        }
        assert "client_search" not in await mongo_db.list_collection_names()
        assert "tags_1" not in await mongo_db["clients"].index_information()
        assert (await mongo_db[FORMATS].find_one({"_id": "clients"}))["format"] == FORMAT
