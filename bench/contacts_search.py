"""Contacts search over many clients: through the service, and as one bare PyMongo query.

    eval "$(uv run crm-stack env)" && uv run python bench/contacts_search.py [--clients 10000]

Needs the local stack. Loads ``--clients`` clients (each with one or two people who have an
e-mail address and a phone) into a throw-away database with ``insert_many`` in chunks of
``--chunk``, then starts the contacts app in process, whose start creates the indexes and runs
the backfill (timed). Then, for each query (``limit=50``, first page):
  1. the service: ``GET /clients?…`` through the app in process (auth, validation, the
     store query, the page's documents, JSON), ``--rounds`` times after one warm-up call;
  2. the baseline, in the same run: the same store query (the filter ``ClientFilter.query``
     makes, the same sort, limit and projection) as one bare PyMongo ``find`` on the same
     collection and indexes, as many times;
and prints median and p95 in milliseconds, the service's median over the baseline's, and the
plan the store chose (index, keys and documents examined). The queries: a portrait filter
(status, region, tag), a name query (``q=volga nord``: clients with a word starting with each)
and an e-mail fragment (``q=@client77``). The database is dropped at the end. Not part of
any test run; the figures of a run are in ``docs/decisions/0010-contacts-model.md``.
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
from crm_contacts.repository import ClientFilter
from crm_contacts.repository.documents import client_doc
from crm_contracts.values import ClientKind, ClientSize, ClientStatus, Language
from crm_kit.app import create_app
from crm_kit.auth import sign_token
from crm_kit.testing import new_jwt_keys
from pymongo import AsyncMongoClient

REGIONS = ["Moscow", "Perm", "Omsk", "Kazan", "Tver", "Samara", "Ufa", "Perm Krai", "Tula", "Orel"]
TAGS = [f"tag{i}" for i in range(20)]
ACTIVITIES = [(f"{10 + i}.00", f"Activity {i}") for i in range(10)]
WORDS = ["Acme", "Nord", "Stroy", "Volga", "Ural", "Sever", "Tech", "Agro", "Trans", "Energo"]
PROJECTION = {"outbox": 0, "search_terms": 0, "search_channels": 0, "shared": 0}
ORDER = [("registered_at", 1), ("_id", 1)]


def _person(i: int, j: int, base: datetime) -> domain.Person:
    return domain.Person(
        person_id=str(uuid.uuid4()),
        name=f"Person {i} {j}",
        language=Language.RU,
        # Already in the normalised form (E.164, lower case): parsing 150,000 would take
        # longer than the rest of the load.
        channels=domain.Channels(email=f"p{i}.{j}@client{i}.example", phone=f"+7495{i:05d}{j:02d}"),
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
    return {**client_doc(client), "version": 1}


async def _timed(rounds: int, call: Callable[[], Awaitable[int]]) -> tuple[list[float], int]:
    await call()  # warm-up
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


def _plan(explained: dict[str, Any]) -> str:
    """The winning plan's index (or scan) and what it examined."""
    stats = explained["executionStats"]
    names: list[str] = []

    def walk(stage: dict[str, Any]) -> None:
        if stage.get("stage") in ("IXSCAN", "COLLSCAN"):
            names.append(stage.get("indexName", "COLLSCAN"))
        if stage.get("stage") == "SORT":
            names.append("SORT")
        for child in [stage.get("inputStage"), *stage.get("inputStages", [])]:
            if child:
                walk(child)

    walk(explained["queryPlanner"]["winningPlan"])
    return (
        f"{' + '.join(dict.fromkeys(names))}: {stats['totalKeysExamined']} keys, "
        f"{stats['totalDocsExamined']} documents"
    )


async def main(clients: int, rounds: int, chunk: int) -> None:
    mongo_uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    database = f"bench_contacts_{uuid.uuid4().hex[:8]}"
    keys = new_jwt_keys(Path(tempfile.mkdtemp(prefix="bench-contacts-")))
    token = sign_token(
        keys.private_pem,
        subject="bench",
        scopes=["contacts:read"],
        issuer="bench",
        audience="crm",
        roles=("integration",),
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
    )
    bare: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, tz_aware=True, uuidRepresentation="standard"
    )
    db = bare[database]
    try:
        base = datetime(2026, 1, 1, tzinfo=UTC)
        print(f"loading {clients} clients into {database} …", flush=True)
        started = time.perf_counter()
        for at in range(0, clients, chunk):
            docs = [_client(i, base) for i in range(at, min(at + chunk, clients))]
            await db["clients"].insert_many(docs, ordered=False)
        print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)

        queries: list[tuple[str, dict[str, Any], ClientFilter]] = [
            (
                "status+region+tag",
                {"status": "active", "region": "Perm", "tag": "tag3"},
                ClientFilter(statuses=(ClientStatus.ACTIVE,), regions=("Perm",), tags=("tag3",)),
            ),
            ("q=volga nord", {"q": "volga nord"}, ClientFilter(text="volga nord")),
            ("q=@client77", {"q": "@client77"}, ClientFilter(text="@client77")),
        ]
        # The HTTP side only: no consumers replaying the shared topics into the bench database.
        app = create_app(dataclasses.replace(SPEC, subscriptions=[]), settings)
        started = time.perf_counter()
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://bench"
            ) as http,
        ):
            print(f"service started (indexes, backfill) in {time.perf_counter() - started:.1f} s")
            headers = {"Authorization": f"Bearer {token}"}

            def through_service(params: dict[str, Any]) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    response = await http.get(
                        "/clients", params={**params, "limit": 50}, headers=headers
                    )
                    response.raise_for_status()
                    return len(response.json()["items"])

                return call

            def bare_query(where: ClientFilter) -> Callable[[], Awaitable[int]]:
                async def call() -> int:
                    found = db["clients"].find(where.query(), PROJECTION).sort(ORDER).limit(51)
                    return len([d async for d in found][:50])

                return call

            print(f"{'query (limit 50)':<36}{'median ms':>10}{'p95 ms':>10}{'rows':>6}{'ratio':>8}")
            for label, params, where in queries:
                service_times, rows = await _timed(rounds, through_service(params))
                bare_times, bare_rows = await _timed(rounds, bare_query(where))
                assert rows == bare_rows, (rows, bare_rows)
                b_med, b_p95 = _summary(bare_times)
                s_med, s_p95 = _summary(service_times)
                print(f"{'service  ' + label:<36}{s_med:>10.1f}{s_p95:>10.1f}{rows:>6}")
                print(
                    f"{'pymongo  ' + label:<36}{b_med:>10.1f}{b_p95:>10.1f}{bare_rows:>6}"
                    f"{s_med / b_med:>8.2f}"
                )
                explained = (
                    await db["clients"]
                    .find(where.query(), PROJECTION)
                    .sort(ORDER)
                    .limit(51)
                    .explain()
                )
                print(f"{'':<9}plan: {_plan(explained)}")
    finally:
        await bare.drop_database(database)
        await bare.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--chunk", type=int, default=5_000, help="clients per insert_many")
    args = parser.parse_args()
    random.seed(7)
    asyncio.run(main(args.clients, args.rounds, args.chunk))
