"""REST: registering clients and reading one by id, next to a bare PyMongo loop.

    make up                                   # the stack and the services
    uv run python bench/rest_contacts.py [--requests 3000] [--reads 20000] [--concurrency 16]

The load comes from a separate process, vegeta (a native load tool, built once with ``go
install``), at fixed concurrency against the running contacts service; the reads begin once the
service has settled after the registrations (its relay and consumer done with them: under 2 % of
a core for two seconds, with ``--service-pid``; otherwise after 5 s). The baseline is a bare
PyMongo loop in another process doing the same store work as the service at the same
concurrency against the same server: per registration the duplicate lookup on ``match_keys``,
one transaction inserting the client and its event into the ``outbox`` collection, the
shared-keys read, and a relay-like task deleting the events its change stream brings in
batches; per read one ``find_one`` by ``_id`` (see ``_baseline``). Prints p50, p99 and requests
per second for each, and the service's share of the baseline's rate. For the read there is a
second baseline: the same ``find_one`` behind a bare FastAPI route on uvicorn (``_framework``),
which shows what the HTTP framework alone costs next to the bare loop. With ``--service-pid``
it also prints the service process's CPU time per request (from /proc), the figure that does
not drift with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from proc import cpu_seconds

Result = dict[str, float]


def _summary(latencies: list[float], elapsed: float) -> Result:
    ordered = sorted(latencies)
    return {
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "rps": len(ordered) / elapsed,
    }


async def _drive(count: int, concurrency: int, call: Callable[[int], Awaitable[Any]]) -> Result:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            started = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _summary(latencies, time.perf_counter() - started)


def _settle(pid: int | None, limit: float = 180.0) -> float:
    """Wait until the service is done with what the registrations set off (its relay, and its
    consumer adding each registration to the client's timeline and checking its duplicate
    marks): until it used under 2 % of a core for two seconds running, at most ``limit``
    seconds. Without a pid, a fixed 5 s. Returns the seconds waited."""
    started = time.monotonic()
    if pid is None:
        time.sleep(5)
        return 5.0
    quiet = 0
    while quiet < 2 and time.monotonic() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(1)
        quiet = quiet + 1 if cpu_seconds(pid) - before < 0.02 else 0
    return time.monotonic() - started


VEGETA = "github.com/tsenart/vegeta/v12"
VEGETA_VERSION = "v12.13.0"


def _vegeta() -> Path:
    """The load tool: vegeta, a native HTTP load generator, built once with ``go install``
    into a cache outside the repository. A Python client (httpx) spent about twice the
    service's own CPU per request and, on two cores, set the pace instead of the service."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "crm-bench"
    binary = cache / f"vegeta-{VEGETA_VERSION}" / "vegeta"
    if not binary.exists():
        if shutil.which("go") is None:
            raise SystemExit("bench: `go` is needed once to build the load tool (vegeta)")
        env = {**os.environ, "GOBIN": str(binary.parent), "GOFLAGS": "-mod=mod"}
        subprocess.run(["go", "install", f"{VEGETA}@{VEGETA_VERSION}"], check=True, env=env)
    return binary


def _attack(vegeta: Path, targets: list[dict[str, Any]], concurrency: int) -> list[dict[str, Any]]:
    """Send every target once with ``concurrency`` workers, as fast as they are answered."""
    lines = "\n".join(json.dumps(t) for t in targets) + "\n"
    attack = subprocess.run(
        [
            str(vegeta),
            "attack",
            "-format=json",
            "-lazy",
            "-rate=0",
            f"-workers={concurrency}",
            f"-max-workers={concurrency}",
            f"-connections={concurrency}",
            "-timeout=60s",
        ],
        input=lines.encode(),
        capture_output=True,
        check=True,
    )
    encoded = subprocess.run(
        [str(vegeta), "encode", "-to=json"], input=attack.stdout, capture_output=True, check=True
    )
    results = [json.loads(line) for line in encoded.stdout.splitlines() if line.strip()]
    # The lazy reader ends the attack with one result saying the targets ran out.
    return [r for r in results if r["error"] != "no targets to attack"]


def _summary_of(results: list[dict[str, Any]], what: str) -> Result:
    failed = [r for r in results if not 200 <= r["code"] < 300]
    if failed:
        raise SystemExit(f"bench: {len(failed)} {what} requests failed, e.g. {failed[0]}")
    starts = [datetime.fromisoformat(r["timestamp"].replace("Z", "+00:00")) for r in results]
    ends = [t.timestamp() + r["latency"] / 1e9 for t, r in zip(starts, results, strict=True)]
    elapsed = max(ends) - min(t.timestamp() for t in starts)
    return _summary([r["latency"] / 1e9 for r in results], elapsed)


def _service(
    url: str,
    token: str,
    count: int,
    reads_count: int,
    concurrency: int,
    out: Any,
    pid: int | None = None,
) -> None:
    vegeta = _vegeta()
    header = {"Authorization": [f"Bearer {token}"], "Content-Type": ["application/json"]}
    run_id = uuid.uuid4().hex[:8]
    registrations = [
        {
            "method": "POST",
            "url": f"{url}/clients",
            "header": header,
            "body": base64.b64encode(
                json.dumps({"name": f"Bench {run_id} client {i}", "region": "Bench"}).encode()
            ).decode(),
        }
        for i in range(count)
    ]
    cpu = cpu_seconds(pid)
    made = _attack(vegeta, registrations, concurrency)
    out["service_register"] = {
        **_summary_of(made, "register"),
        "cpu_ms": (cpu_seconds(pid) - cpu) * 1000 / count,
    }
    ids = [json.loads(base64.b64decode(r["body"]))["id"] for r in made]
    out["settled_s"] = _settle(pid)
    reads = [
        {"method": "GET", "url": f"{url}/clients/{ids[i % len(ids)]}", "header": header}
        for i in range(reads_count)
    ]
    cpu = cpu_seconds(pid)
    out["service_read"] = {
        **_summary_of(_attack(vegeta, reads, concurrency), "read"),
        "cpu_ms": (cpu_seconds(pid) - cpu) * 1000 / reads_count,
    }


HIDDEN = {"outbox": 0, "search_terms": 0, "search_channels": 0, "shared": 0}
"""The read's projection: the derived fields the service never reads back."""


def _registrations(count: int, label: str) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """``count`` registrations as the service stores them, made before any timing: the client
    document (search terms, channels and match keys included, at version 1) and its outbox
    entries (the ``ClientRegistered`` envelope), from the service's own domain and mappings."""
    from crm_contacts import domain, events
    from crm_contacts.repository.documents import client_doc
    from crm_contracts.values import ClientKind
    from crm_kit.clock import utc_now
    from crm_kit.outbox import outbox_entry

    made = []
    for i in range(count):
        now = utc_now()
        client, happened = domain.register_client(
            client_id=str(uuid.uuid4()),
            kind=ClientKind.ORGANISATION,
            name=f"{label} client {i}",
            now=now,
            by="bench",
            region="Bench",
        )
        entries = [
            outbox_entry(e, producer="contacts")
            for e in events.client_events(client, happened, now=now)
        ]
        made.append(({**client_doc(client), "version": 1}, entries))
    return made


def _baseline(mongo_uri: str, count: int, reads: int, concurrency: int, out: Any) -> None:
    """The store work of the service's registration and read, as bare PyMongo calls.

    A registration in the service is, per request (listed with pymongo command monitoring by
    ``bench/rest_contacts_commands.py``): the duplicate lookup (a ``find`` on the ``match_keys``
    index, live clients only, in registration order, at most 10); one transaction (snapshot
    read concern, majority commit) inserting the client and its ``ClientRegistered`` event into
    the ``outbox`` collection, then ``commitTransaction``; the shared-keys read (the other live
    clients holding its keys, for ``shared`` marks — none here, every name is new, so no mark is
    written, as in the service). Then the relay, holding a change stream on the outbox's
    inserts, takes what it brings in batches and deletes them with one ``delete_many`` by
    ``_id`` each. A read is one ``find_one`` by ``_id`` with the derived fields projected out.
    The loop does exactly that, on a ``clients`` collection with the service's indexes and
    documents and events made by the service's own code (before the timing), so the ratio
    compares the service with its own store work done by nothing but the driver. Not mirrored:
    the relay's publishing and its lease renewal (one ``findAndModify`` every few seconds), and
    the contacts consumer's work on each registration (its timeline entry, the repair of the
    shared marks), which the service does after answering.
    """
    from crm_contacts.repository.clients import CLIENTS, duplicate_keys
    from crm_contacts.repository.indexes import INDEXES
    from crm_kit.outbox import OUTBOX
    from crm_kit.settings import ServiceSettings
    from pymongo import AsyncMongoClient
    from pymongo.read_concern import ReadConcern
    from pymongo.write_concern import WriteConcern

    # The relay's batch and change-stream wait at the service's default settings.
    defaults = ServiceSettings.model_fields
    batch_size = int(defaults["relay_batch_size"].default)
    wait_ms = max(100, int(float(defaults["relay_lease_s"].default) * 1000 / 6))

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        db = client[f"bench_baseline_{uuid.uuid4().hex[:8]}"]
        clients, outbox = db[CLIENTS], db[OUTBOX]
        made = _registrations(count, f"Baseline {uuid.uuid4().hex[:8]}")
        ids: list[str] = []
        await clients.create_indexes(INDEXES[CLIENTS])
        await db.create_collection(OUTBOX)

        async def relay(stream: Any) -> None:
            """The relay's store side: what the stream brings, one ``delete_many`` a batch."""
            deleted = 0
            async with stream:
                while deleted < count:
                    batch: list[Any] = []
                    while len(batch) < batch_size:
                        change = await stream.try_next()
                        if change is None:
                            break
                        batch.append(change["fullDocument"]["_id"])
                    if batch:
                        await outbox.delete_many({"_id": {"$in": batch}})
                        deleted += len(batch)

        async def register(i: int) -> None:
            doc, entries = made[i]
            keys = list(doc["match_keys"])
            await (
                clients.find({"match_keys": {"$in": keys}, "merged_into": None}, HIDDEN)
                .sort([("registered_at", 1), ("_id", 1)])
                .limit(10)
                .to_list()
            )

            async def work(session: Any) -> None:
                await clients.insert_one(doc, session=session)
                await outbox.insert_many(entries, ordered=True, session=session)

            async with client.start_session() as session:
                await session.with_transaction(
                    work,
                    read_concern=ReadConcern("snapshot"),
                    write_concern=WriteConcern("majority"),
                )
            await clients.find(
                {
                    "match_keys": {"$in": duplicate_keys(keys)},
                    "_id": {"$ne": doc["_id"]},
                    "merged_into": None,
                },
                {"match_keys": 1, "shared": 1},
            ).to_list()
            ids.append(doc["_id"])

        async def read(i: int) -> None:
            await clients.find_one({"_id": ids[i % len(ids)]}, HIDDEN)

        # Opened before the first insert, as the relay's is: it sees every event.
        stream = await outbox.watch(
            [{"$match": {"operationType": "insert"}}],
            max_await_time_ms=wait_ms,
            batch_size=batch_size,
        )
        relaying = asyncio.create_task(relay(stream))
        try:
            out["baseline_register"] = await _drive(count, concurrency, register)
            await asyncio.wait_for(relaying, timeout=120)  # the reads begin once it is done
            out["baseline_read"] = await _drive(reads, concurrency, read)
        finally:
            relaying.cancel()
            await client.drop_database(db.name)
            await client.close()

    asyncio.run(run())


_FRAMEWORK_APP = """
import json
import os

from fastapi import FastAPI
from fastapi.responses import Response
from pymongo import AsyncMongoClient

db = AsyncMongoClient(os.environ["BENCH_MONGO_URI"])[os.environ["BENCH_DB"]]
app = FastAPI()
PROJECTION = {"outbox": 0, "search_terms": 0, "search_channels": 0, "shared": 0}


@app.get("/clients/{client_id}")
async def read(client_id: str) -> Response:
    doc = await db.clients.find_one({"_id": client_id}, PROJECTION)
    # What JSONResponse does, with the registration time as text.
    return Response(json.dumps(doc, default=str), media_type="application/json")
"""


def _answers(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _framework(mongo_uri: str, count: int, concurrency: int, out: Any) -> None:
    """A second baseline for the read: the same ``find_one`` behind a bare FastAPI route on
    uvicorn (the service's framework and server, with uvloop and httptools), without the
    service's token check, middleware, access log or models, loaded by the same vegeta run.
    What separates it from the bare PyMongo loop is the HTTP framework's own cost."""
    from crm_kit.testing import free_port
    from pymongo import MongoClient

    name = f"bench_framework_{uuid.uuid4().hex[:8]}"
    store: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    docs = [doc for doc, _ in _registrations(min(count, 3000), f"Framework {name}")]
    ids = [doc["_id"] for doc in docs]
    for start in range(0, len(docs), 500):
        store[name].clients.insert_many(docs[start : start + 500])
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bench-framework-"))
    (folder / "framework_app.py").write_text(_FRAMEWORK_APP)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "framework_app:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=folder,
        env={**os.environ, "BENCH_MONGO_URI": mongo_uri, "BENCH_DB": name},
    )
    try:
        deadline = time.monotonic() + 30
        while not _answers(port):
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("bench: the bare FastAPI app did not start")
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}"
        reads = [
            {"method": "GET", "url": f"{url}/clients/{ids[i % len(ids)]}"} for i in range(count)
        ]
        cpu = cpu_seconds(server.pid)
        out["framework_read"] = {
            **_summary_of(_attack(_vegeta(), reads, concurrency), "framework read"),
            "cpu_ms": (cpu_seconds(server.pid) - cpu) * 1000 / count,
        }
    finally:
        server.terminate()
        server.wait(timeout=10)
        store.drop_database(name)
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument(
        "--reads",
        type=int,
        default=20000,
        help="reads by id (of the registered clients, round robin); more than the registrations "
        "because a read takes ~1 ms: a few thousand are over before the rate settles",
    )
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument(
        "--service-pid", type=int, help="the service's pid, to print its CPU ms per request"
    )
    args = parser.parse_args()

    from crm_kit.auth import sign_token

    key = Path(os.environ["CRM_JWT_PRIVATE_KEY_FILE"]).read_bytes()
    token = sign_token(
        key,
        subject="bench",
        roles=("integration",),
        scopes=["contacts:read", "contacts:write"],
        issuer=os.environ.get("CRM_JWT_ISSUER", "crm-local"),
        audience=os.environ.get("CRM_JWT_AUDIENCE", "crm"),
    )
    mongo = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        out = manager.dict()
        for target, arguments in (
            (_baseline, (mongo, args.requests, args.reads, args.concurrency, out)),
            (_framework, (mongo, args.reads, args.concurrency, out)),
            (
                _service,
                (
                    args.url,
                    token,
                    args.requests,
                    args.reads,
                    args.concurrency,
                    out,
                    args.service_pid,
                ),
            ),
        ):
            process = ctx.Process(target=target, args=arguments)
            process.start()
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"bench: {target.__name__} failed (exit {process.exitcode})")
        results = dict(out)

    print(
        f"REST, {args.requests} registrations and {args.reads} reads "
        f"at concurrency {args.concurrency}"
    )
    for operation in ("register", "read"):
        base, service = results[f"baseline_{operation}"], results[f"service_{operation}"]
        print(f"  {operation}:")
        for name, r in (("bare PyMongo loop", base), ("contacts service", service)):
            print(
                f"    {name:<18} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                f"{r['rps']:8.0f} req/s"
            )
        print(f"    service / baseline rate: {service['rps'] / base['rps']:.2f}")
        if args.service_pid is not None:
            print(f"    service CPU per request: {service['cpu_ms']:.2f} ms")
        if operation == "read":
            bare = results["framework_read"]
            print(
                f"    {'bare FastAPI route':<18} p50 {bare['p50_ms']:7.2f} ms   "
                f"p99 {bare['p99_ms']:7.2f} ms   {bare['rps']:8.0f} req/s   "
                f"(CPU {bare['cpu_ms']:.2f} ms per request)"
            )
            print(
                f"    bare FastAPI / PyMongo loop: {bare['rps'] / base['rps']:.2f}; "
                f"service / bare FastAPI: {service['rps'] / bare['rps']:.2f}"
            )
        if operation == "register":
            print(
                f"  (reads began once the service had settled, {results['settled_s']:.0f} s later)"
            )


if __name__ == "__main__":
    main()
