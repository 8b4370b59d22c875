"""REST: registering clients and reading one by id, next to a bare PyMongo loop.

    make up                                   # the stack and the services
    uv run python bench/rest_contacts.py [--requests 3000] [--reads 20000] [--concurrency 16]

The load comes from a separate process, vegeta (a native load tool, built once with ``go
install``), at fixed concurrency against the running contacts service; the reads begin once the
service has settled after the registrations (its relay and consumer done with them: under 2 % of
a core for two seconds, with ``--service-pid``; otherwise after 5 s). The baseline is
a bare PyMongo loop in another process doing the same store work as the service (every store
command of a registration, see ``_baseline``; one read by id) at the same concurrency against
the same server. Prints p50, p99 and requests per second for each, and the service's share of
the baseline's rate. For the read there is a second baseline: the same ``find_one`` behind a
bare FastAPI route on uvicorn (``_framework``), which shows what the HTTP framework alone costs
next to the bare loop. With ``--service-pid`` it also prints the service process's CPU time per
request (from /proc), the figure that does not drift with the machine's load.
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
    consumer adding each registration to the client's timeline and the search index): until it
    used under 2 % of a core for two seconds running, at most ``limit`` seconds. Without a pid,
    a fixed 5 s. Returns the seconds waited."""
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


def _baseline(mongo_uri: str, count: int, reads: int, concurrency: int, out: Any) -> None:
    """The store work of the service's registration and read, as bare PyMongo calls.

    A registration in the service is, per request (counted by ``bench/rest_contacts_commands.py``
    with pymongo command monitoring): one ``_id $in`` read of the duplicate-key index, the
    client's insert (with its outbox element), the key index upsert, the search entry's write
    (its page document written whole from the last known copy, guarded by the page's counter,
    read again when another writer got in first: the service's own page ids), the search
    index's revision increment, and the relay's removal of the published outbox element. A read
    is one ``find_one`` by ``_id``. The loop does exactly that, with documents of the service's
    shape, so the ratio compares the service with its own store work done by nothing but the
    driver.
    """
    from crm_contacts.repository.search_index import (
        BUCKET_IDS,
        PAGE_IDS,
        REVISION,
        bucket_of,
        page_of,
    )
    from pymongo import AsyncMongoClient

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        db = client[f"bench_baseline_{uuid.uuid4().hex[:8]}"]
        run_id = uuid.uuid4().hex[:8]
        ids: list[str] = []
        pages: dict[str, tuple[int, str]] = {}  # the process's last known page, as the service
        await db.client_search.insert_many(
            [{"_id": page, "v": 1, "s": ""} for b in BUCKET_IDS for page in PAGE_IDS[b]]
        )
        await db.client_search.insert_one({"_id": REVISION, "r": {}, "epoch": run_id})

        async def put_entry(doc_id: str, line: str) -> None:
            """The search entry's write: the page written whole from the last known copy,
            guarded by its counter, read again when another writer got in first."""
            page = page_of(doc_id)
            while True:
                if page not in pages:
                    found = await db.client_search.find_one({"_id": page})
                    assert found is not None
                    pages[page] = (int(found["v"]), str(found["s"]))
                version, text = pages[page]
                merged = f"{text}\n{line}" if text else line
                written = await db.client_search.update_one(
                    {"_id": page, "v": version}, {"$set": {"s": merged, "v": version + 1}}
                )
                if written.matched_count:
                    pages[page] = (version + 1, merged)
                    return
                del pages[page]

        async def register(i: int) -> None:
            doc_id = str(uuid.uuid4())
            name = f"baseline {run_id} client {i}"
            key = f"name:{name}"
            entry = {"id": doc_id, "topic": "crm.contacts.v1", "key": doc_id, "value": "{}" * 300}
            await db.client_keys.find({"_id": {"$in": [key]}}).to_list()
            await db.clients.insert_one(
                {
                    "_id": doc_id,
                    "name": name,
                    "name_norm": name,
                    "kind": "organisation",
                    "status": "potential",
                    "region": "Bench",
                    "tags": [],
                    "people": [],
                    "match_keys": [key],
                    "version": 1,
                    "outbox": [entry],
                }
            )
            await db.client_keys.update_one(
                {"_id": key}, {"$addToSet": {"c": {"$each": [doc_id]}}}, upsert=True
            )
            bucket = bucket_of(doc_id)
            await put_entry(
                doc_id,
                f'{doc_id}|0000000001|["2026-11-27T00:00:00+00:00","potential",null,'
                f'"Bench",[],null,"{name}",[],[]]',
            )
            await db.client_search.update_one({"_id": REVISION}, {"$inc": {f"r.{bucket}": 1}})
            await db.clients.update_one({"_id": doc_id}, {"$pull": {"outbox": entry}})
            ids.append(doc_id)

        async def read(i: int) -> None:
            await db.clients.find_one({"_id": ids[i % len(ids)]}, {"outbox": 0})

        try:
            out["baseline_register"] = await _drive(count, concurrency, register)
            out["baseline_read"] = await _drive(reads, concurrency, read)
        finally:
            await client.drop_database(db.name)
            await client.close()

    asyncio.run(run())


_FRAMEWORK_APP = """
import os

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pymongo import AsyncMongoClient

db = AsyncMongoClient(os.environ["BENCH_MONGO_URI"])[os.environ["BENCH_DB"]]
app = FastAPI()


@app.get("/clients/{client_id}")
async def read(client_id: str) -> JSONResponse:
    return JSONResponse(await db.clients.find_one({"_id": client_id}, {"outbox": 0}))
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
    ids = [str(uuid.uuid4()) for _ in range(min(count, 3000))]
    for start in range(0, len(ids), 500):
        store[name].clients.insert_many(
            [
                {
                    "_id": i,
                    "name": f"framework client {i}",
                    "region": "Bench",
                    "status": "potential",
                    "tags": [],
                    "people": [],
                    "version": 1,
                }
                for i in ids[start : start + 500]
            ]
        )
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
