"""Contacts search: a filtered page over 10,000 clients, through the service and bare PyMongo.

    eval "$(uv run crm-stack env)" && uv run python bench/contacts_search.py [--clients 10000]

Needs the local stack. Loads ``--clients`` clients (each with one or two people who have an
e-mail address and a phone) straight into a throw-away database in ``insert_many`` chunks of
50, lets the service's start fill its search index from them (timed), then, for a filtered
query (status, region, tag) and a text query (``q=`` on a name fragment):
  1. the same filter, sort and limit as one bare PyMongo ``find`` on the clients collection,
     the store query a search without the index runs: the baseline, ``--bare-rounds`` times
     (the store keeps no cache to warm, and each such scan is long);
  2. ``GET /clients?…&limit=50`` through the contacts app in process (auth, validation, the
     search index, the page's clients, JSON): cold (the process's index cache emptied before
     each call, as in a process's first search), ``--rounds`` times;
  3. the same warm (the cache current: one read of the revision document), ``10 × --rounds``;
  4. the same right after another writer counted a write of one bucket (that bucket read
     again; the write itself is not timed), ``10 × --rounds``, mean;
and finally a bare read of the 32 index documents (what a cold search reads).
Prints median and p95 in milliseconds and each service figure's ratio to the baseline median
of the same run (below 1: the service is faster than the bare query). The database is dropped
at the end. Not part of any test run; the figures of a run are in
``docs/decisions/0010-contacts-model.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from crm_contacts import domain
from crm_contacts.app import SPEC, ContactsSettings
from crm_contacts.repository import create_indexes
from crm_contacts.repository.clients import ClientFilter
from crm_contacts.repository.documents import client_doc
from crm_contacts.repository.search_index import SEARCH, SearchCache, SearchIndex, process_cache
from crm_contracts.values import ClientKind, ClientSize, ClientStatus, Language
from crm_kit.app import create_app
from crm_kit.auth import sign_token
from crm_kit.testing import new_jwt_keys
from pymongo import AsyncMongoClient

REGIONS = ["Moscow", "Perm", "Omsk", "Kazan", "Tver", "Samara", "Ufa", "Perm Krai", "Tula", "Orel"]
TAGS = [f"tag{i}" for i in range(20)]
ACTIVITIES = [(f"{10 + i}.00", f"Activity {i}") for i in range(10)]
WORDS = ["Acme", "Nord", "Stroy", "Volga", "Ural", "Sever", "Tech", "Agro", "Trans", "Energo"]


def _person(i: int, j: int, base: datetime) -> domain.Person:
    return domain.Person(
        person_id=str(uuid.uuid4()),
        name=f"Person {i} {j}",
        language=Language.RU,
        channels=domain.Channels.parse(
            {"email": f"p{i}.{j}@client{i}.example", "phone": f"+7495{i:05d}{j:02d}"}
        ),
        added_at=base,
        position="Buyer",
    )


def _client(i: int, base: datetime) -> dict[str, Any]:
    code, label = random.choice(ACTIVITIES)
    client = domain.Client(
        client_id=str(uuid.uuid4()),
        kind=ClientKind.ORGANISATION,
        name=f"{random.choice(WORDS)} {random.choice(WORDS)} {i}",
        status=random.choice(list(ClientStatus)),
        registered_at=base + timedelta(seconds=i),
        field_of_activity=domain.FieldOfActivity(code, label),
        region=random.choice(REGIONS),
        size=random.choice(list(ClientSize)),
        tags=tuple(random.sample(TAGS, 3)),
        people=tuple(_person(i, j, base) for j in range(random.randint(1, 2))),
    )
    return {**client_doc(client), "version": 1, "outbox": []}


async def _timed(
    rounds: int, call: Callable[[], Awaitable[int]], *, warm_up: bool = True
) -> tuple[list[float], int]:
    if warm_up:
        await call()
    times: list[float] = []
    count = 0
    for _ in range(rounds):
        start = time.perf_counter()
        count = await call()
        times.append((time.perf_counter() - start) * 1000)
    return times, count


def _summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[math.ceil(len(ordered) * 0.95) - 1]


async def main(clients: int, rounds: int, bare_rounds: int, relay_scan: float) -> None:
    mongo_uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    database = f"bench_contacts_{uuid.uuid4().hex[:8]}"
    keys = new_jwt_keys(Path(tempfile.mkdtemp(prefix="bench-contacts-")))
    token = sign_token(
        keys.private_pem, subject="bench", scopes=["contacts:read"], issuer="bench", audience="crm"
    )
    settings = ContactsSettings(
        environment="test",
        mongo_uri=mongo_uri,
        mongo_database=database,
        consumer_group=f"bench-{database}",
        jwt_public_key_file=keys.public_file,
        jwt_issuer="bench",
        jwt_audience="crm",
        log_json=False,
        log_level="WARNING",
        # The relay's periodic scan reads every client document on FerretDB (a full scan each
        # second at this size); left on, it would be measured with the search.
        relay_scan_interval_s=relay_scan,
    )
    bare: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, uuidRepresentation="standard"
    )
    db = bare[database]
    try:
        base = datetime(2026, 1, 1, tzinfo=UTC)
        print(f"loading {clients} clients into {database} …", flush=True)
        started = time.perf_counter()
        docs = [_client(i, base) for i in range(clients)]
        for at in range(0, len(docs), 50):
            await db["clients"].insert_many(docs[at : at + 50])
        print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
        started = time.perf_counter()
        await create_indexes(db)
        print(f"search index filled at start in {time.perf_counter() - started:.1f} s")

        filters = {"status": "active", "region": "Perm", "tag": "tag3", "limit": 50}
        where = ClientFilter(statuses=(ClientStatus.ACTIVE,), regions=("Perm",), tags=("tag3",))
        text = {"q": "volga nord", "limit": 50}
        text_where = ClientFilter(text="volga nord")

        # The HTTP side only: no consumers replaying the shared topics into the bench database.
        app = create_app(dataclasses.replace(SPEC, subscriptions=[]), settings)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as http,
        ):
            headers = {"Authorization": f"Bearer {token}"}

            def through_service(params: dict[str, Any]) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    response = await http.get("/clients", params=params, headers=headers)
                    response.raise_for_status()
                    return len(response.json()["items"])

                return call

            def bare_query(w: ClientFilter) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    cursor = (
                        db["clients"]
                        .find(w.query(), {"outbox": 0})
                        .sort([("registered_at", 1), ("_id", 1)])
                        .limit(51)
                    )
                    return len([d async for d in cursor][:50])

                return call

            cache = process_cache(app.state.runtime.db)
            writer = SearchIndex(db, SearchCache())
            written = docs[0]

            def cold(call: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
                async def first_search() -> int:
                    cache.buckets.clear()  # as in a process that has not searched yet
                    return await call()

                return first_search

            def after_a_write(call: Callable[[], Awaitable[int]]) -> Callable[[], Awaitable[int]]:
                async def search() -> int:
                    await writer.put(written)  # counts a write of one bucket
                    started = time.perf_counter()
                    rows = await call()
                    nonlocal write_free
                    write_free += time.perf_counter() - started
                    return rows

                return search

            print(f"{'query (limit 50)':<44}{'median ms':>10}{'p95 ms':>10}{'rows':>6}{'ratio':>8}")
            for label, params, w in (
                ("status+region+tag", filters, where),
                ("text q=", text, text_where),
            ):
                # The store keeps no cache to warm, and each bare scan is long.
                bare_times, bare_rows = await _timed(bare_rounds, bare_query(w), warm_up=False)
                b_med, b_p95 = _summary(bare_times)
                service = through_service(params)
                cold_times, rows = await _timed(rounds, cold(service), warm_up=False)
                warm_times, warm_rows = await _timed(rounds * 10, service)
                write_free = 0.0
                await _timed(rounds * 10, after_a_write(service))
                written_times = [write_free * 1000 / (rounds * 10)]
                assert rows == bare_rows == warm_rows, (rows, bare_rows, warm_rows)
                print(f"{'pymongo  ' + label + ' (baseline)':<44}{b_med:>10.1f}{b_p95:>10.1f}")
                for name, times in (
                    ("cold (first search)", cold_times),
                    ("warm", warm_times),
                    ("warm, one bucket written since (mean)", written_times),
                ):
                    med, p95 = _summary(times)
                    ratio = med / b_med
                    print(f"{'service  ' + name:<44}{med:>10.1f}{p95:>10.1f}{rows:>6}{ratio:>8.4f}")

            async def index_read() -> int:
                return len([d async for d in db[SEARCH].find({})])

            i_med, i_p95 = _summary((await _timed(rounds, index_read))[0])
            print(f"{'pymongo  read the index documents':<44}{i_med:>10.1f}{i_p95:>10.1f}")
    finally:
        await bare.drop_database(database)
        await bare.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bare-rounds", type=int, default=1)
    parser.add_argument(
        "--relay-scan",
        type=float,
        default=3600.0,
        help="the outbox relay's scan interval in seconds (the service default is 1)",
    )
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.clients, args.rounds, args.bare_rounds, args.relay_scan))
