"""The compact search index answers what the store query would, and stays current."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contacts import domain
from crm_contacts.repository.clients import ClientFilter
from crm_contacts.repository.documents import client_doc
from crm_contacts.repository.search_index import (
    BUCKET_IDS,
    BUCKETS,
    PAGE_IDS,
    READ_CHUNK,
    REVISION,
    SEARCH,
    SearchCache,
    SearchEntry,
    SearchIndex,
    bucket_of,
    format_page,
    page_of,
    parse_page,
)
from crm_contracts.values import ClientKind, ClientStatus, Language
from pymongo import AsyncMongoClient, monitoring

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
    assert (entry.client_id, entry.region, list(entry.phones)) == (
        newer["_id"],
        "Perm",
        ["+74951234567"],
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
    page = await mongo_db[SEARCH].find_one({"_id": page_of(docs[0]["_id"])})
    assert parse_page(page["s"])[docs[0]["_id"]].startswith("0000000001|")


async def test_each_entry_is_kept_in_its_page_only(mongo_db: Any) -> None:
    """A bucket is split into pages so that an entry write rewrites a page, not the bucket."""
    filled = [_client_doc(1, "Perm") for _ in range(40)]
    await mongo_db["clients"].insert_many(filled)
    index = SearchIndex(mongo_db)
    await index.prepare(mongo_db["clients"])
    put = [_client_doc(1, "Omsk") for _ in range(40)]
    for doc in put:
        await index.put(doc)
    await index.put({**put[0], "version": 2, "region": "Tver"})
    stored = {
        d["_id"]: set(parse_page(d["s"]))
        async for d in mongo_db[SEARCH].find({"_id": {"$regex": "^b"}})
    }
    expected: dict[str, set[str]] = {}
    for doc in filled + put:
        expected.setdefault(page_of(doc["_id"]), set()).add(doc["_id"])
    assert stored == expected
    assert len(stored) > BUCKETS // 2  # the 80 entries are spread, not in a few documents
    regions = {e.client_id: e.region for e in await index.entries()}
    assert regions == {
        **{d["_id"]: "Perm" for d in filled},
        **{d["_id"]: "Omsk" for d in put[1:]},
        put[0]["_id"]: "Tver",
    }


async def test_writers_of_one_page_in_two_processes_keep_each_other_entries(
    mongo_db: Any,
) -> None:
    """Each process writes a page from its last known state, guarded by the page's counter:
    one that another process wrote since reads it again instead of dropping its entries."""
    a, b = SearchIndex(mongo_db, SearchCache()), SearchIndex(mongo_db, SearchCache())
    first = _client_doc(1, "Perm")
    same_page: list[dict[str, Any]] = []
    while len(same_page) < 3:
        doc = _client_doc(1, "Omsk")
        if page_of(doc["_id"]) == page_of(first["_id"]):
            same_page.append(doc)
    await a.put(first)  # a knows the page now
    await b.put(same_page[0])
    await a.put(same_page[1])  # a's known page is one write behind
    await b.put({**first, "version": 2, "region": "Tver"})
    await a.put(same_page[2])
    page = await mongo_db[SEARCH].find_one({"_id": page_of(first["_id"])})
    assert page["v"] == 5
    regions = {e.client_id: e.region for e in await SearchIndex(mongo_db, SearchCache()).entries()}
    assert regions == {first["_id"]: "Tver", **{d["_id"]: "Omsk" for d in same_page}}


async def _two_processes(db: Any) -> tuple[SearchIndex, SearchIndex]:
    """Two service processes' views of one index: each its own cache."""
    await SearchIndex(db, SearchCache()).prepare(db["clients"])
    return SearchIndex(db, SearchCache()), SearchIndex(db, SearchCache())


async def _regions(index: SearchIndex) -> dict[str, str | None]:
    return {e.client_id: e.region for e in await index.entries()}


async def test_a_write_in_one_process_shows_in_another_process_cached_search(
    mongo_db: Any,
) -> None:
    a, b = await _two_processes(mongo_db)
    first, second = _client_doc(1, "Perm"), _client_doc(1, "Omsk")
    await a.put(first)
    assert await _regions(b) == {first["_id"]: "Perm"}  # b's cache now holds every bucket
    await a.put(second)
    await a.put({**first, "version": 2, "region": "Tver"})
    assert await _regions(b) == {first["_id"]: "Tver", second["_id"]: "Omsk"}
    assert await _regions(a) == {first["_id"]: "Tver", second["_id"]: "Omsk"}


async def test_a_merged_client_leaves_another_process_cached_search(mongo_db: Any) -> None:
    a, b = await _two_processes(mongo_db)
    survivor, merged = _client_doc(1, "Perm"), _client_doc(1, "Perm")
    await a.put(survivor)
    await a.put(merged)
    assert sorted(await _regions(b)) == sorted([survivor["_id"], merged["_id"]])
    await a.put({**merged, "version": 2, "merged_into": survivor["_id"]})
    assert await _regions(b) == {survivor["_id"]: "Perm"}


class _Finds(monitoring.CommandListener):
    """The ``find`` commands sent to the search index's collection."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "find" and event.command.get("find") == SEARCH:
            self.filters.append(dict(event.command.get("filter") or {}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_a_cached_search_reads_the_revision_and_only_the_buckets_written_since(
    mongo_db: Any, stack: Any
) -> None:
    finds = _Finds()
    watched: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.mongo_uri, tz_aware=True, uuidRepresentation="standard", event_listeners=[finds]
    )
    try:
        writer, _ = await _two_processes(mongo_db)
        cache = SearchCache()
        reader = SearchIndex(watched[mongo_db.name], cache)
        doc = _client_doc(1, "Perm")
        await writer.put(doc)

        await reader.entries()  # cold: the revision, then every bucket's pages
        pages = [p for b in BUCKET_IDS for p in PAGE_IDS[b]]
        first, *chunks = [f["_id"] for f in finds.filters]  # the chunks are sent at once
        assert first == REVISION
        assert sorted(chunks, key=str) == [
            {"$in": pages[at : at + READ_CHUNK]} for at in range(0, len(pages), READ_CHUNK)
        ]
        assert cache.bucket_reads == BUCKETS

        finds.filters.clear()
        assert [e.client_id for e in await reader.entries()] == [doc["_id"]]
        assert finds.filters == [{"_id": REVISION}]  # warm and unchanged: the revision only
        assert cache.bucket_reads == BUCKETS

        finds.filters.clear()
        await writer.put({**doc, "version": 2, "region": "Omsk"})
        assert [e.region for e in await reader.entries()] == ["Omsk"]
        bucket = list(PAGE_IDS[bucket_of(doc["_id"])])  # its pages, one of them written
        assert finds.filters == [{"_id": REVISION}, {"_id": {"$in": bucket}}]
        assert cache.bucket_reads == BUCKETS + 1
    finally:
        await watched.close()


async def test_a_rewrite_of_a_current_entry_still_reaches_the_caches(mongo_db: Any) -> None:
    """An entry written by a process that stopped before counting its write is seen once the
    contacts consumer's rewrite (a no-op on the entry) counts one."""
    a, b = await _two_processes(mongo_db)
    doc = _client_doc(1, "Perm")
    assert await _regions(b) == {}
    await mongo_db[SEARCH].insert_one(  # the entry, without its revision increment
        {
            "_id": page_of(doc["_id"]),
            "v": 1,
            "s": format_page({doc["_id"]: f"{1:010d}|{SearchEntry.of_client_doc(doc).encode()}"}),
        }
    )
    assert await _regions(b) == {}  # b's cached bucket is still the counted one
    await a.put(doc)
    assert await _regions(b) == {doc["_id"]: "Perm"}
