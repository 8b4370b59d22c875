"""Contacts search: a filtered page over 10,000 clients, through the service and bare PyMongo.

    eval "$(uv run crm-stack env)" && uv run python bench/contacts_search.py [--clients 10000]

Needs the local stack. Loads ``--clients`` clients (each with one or two people who have an
e-mail address and a phone) straight into a throw-away database in ``insert_many`` chunks of
50, lets the service's start fill its search index from them (timed), then times:
  1. ``GET /clients?status=…&region=…&tag=…&limit=50`` through the contacts app in process
     (auth, validation, the search index, the page's clients by ``_id``, JSON), ``--rounds``
     times after a warm-up;
  2. the same filter, sort and limit as one bare PyMongo ``find`` on the clients collection,
     the store query a search without the index runs: the baseline, ``--bare-rounds`` times
     (the store keeps no cache to warm, and each such scan is long);
  3. the same pair for a text query (``q=`` on a name fragment);
  4. a bare read of the search index's documents: the floor of the service's way.
Prints median and p95 in milliseconds and the service/bare ratio (below 1: the service is
faster than the bare query). The database is dropped at the end. Not part of any test run;
the figures of a run are in ``docs/decisions/0010-contacts-model.md``.
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
from crm_contacts.repository.search_index import SEARCH
from crm_contracts.values import ClientKind, ClientSize, ClientStatus, Language
from crm_kit.app import create_app
from crm_kit.auth import sign_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
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
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    keydir = Path(tempfile.mkdtemp())
    (keydir / "public.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    token = sign_token(
        private, subject="bench", scopes=["contacts:read"], issuer="bench", audience="crm"
    )
    settings = ContactsSettings(
        environment="test",
        mongo_uri=mongo_uri,
        mongo_database=database,
        consumer_group=f"bench-{database}",
        jwt_public_key_file=keydir / "public.pem",
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

            print(f"{'query':<34}{'median ms':>10}{'p95 ms':>10}{'rows':>6}{'ratio':>8}")
            for label, params, w in (
                ("status+region+tag, first page", filters, where),
                ("text q=, first page", text, text_where),
            ):
                service_times, rows = await _timed(rounds, through_service(params))
                # The store keeps no cache to warm, and each bare scan is long.
                bare_times, bare_rows = await _timed(bare_rounds, bare_query(w), warm_up=False)
                s_med, s_p95 = _summary(service_times)
                b_med, b_p95 = _summary(bare_times)
                assert rows == bare_rows, (rows, bare_rows)
                print(f"{'service  ' + label:<34}{s_med:>10.1f}{s_p95:>10.1f}{rows:>6}")
                print(f"{'pymongo  ' + label:<34}{b_med:>10.1f}{b_p95:>10.1f}{bare_rows:>6}")
                print(f"{'ratio (service / bare, median)':<34}{'':>26}{s_med / b_med:>8.2f}")

            async def index_read() -> int:
                return len([d async for d in db[SEARCH].find({})])

            i_med, i_p95 = _summary((await _timed(rounds, index_read))[0])
            print(f"{'pymongo  read the index documents':<34}{i_med:>10.1f}{i_p95:>10.1f}")
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
