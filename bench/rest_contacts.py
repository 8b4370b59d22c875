"""REST: registering clients and reading one by id, next to a bare PyMongo loop.

    make up                                   # the stack and the services
    uv run python bench/rest_contacts.py [--requests 3000] [--concurrency 16]

The load comes from a separate process (httpx, fixed concurrency) against the running contacts
service; the baseline is a bare PyMongo loop in another process doing the same store work (insert
a client document with one outbox element, read it back by id) at the same concurrency against
the same server. Prints p50, p99 and requests per second for each, and the service's share of
the baseline's rate.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

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


def _service(url: str, token: str, count: int, concurrency: int, out: Any) -> None:
    import httpx

    async def run() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        ids: list[str] = []
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(
            base_url=url, headers=headers, limits=limits, timeout=60.0
        ) as client:
            run_id = uuid.uuid4().hex[:8]

            async def register(i: int) -> None:
                response = await client.post(
                    "/clients", json={"name": f"Bench {run_id} client {i}", "region": "Bench"}
                )
                response.raise_for_status()
                ids.append(response.json()["id"])

            async def read(i: int) -> None:
                response = await client.get(f"/clients/{ids[i % len(ids)]}")
                response.raise_for_status()

            out["service_register"] = await _drive(count, concurrency, register)
            out["service_read"] = await _drive(count, concurrency, read)

    asyncio.run(run())


def _baseline(mongo_uri: str, count: int, concurrency: int, out: Any) -> None:
    from pymongo import AsyncMongoClient

    async def run() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        db = client[f"bench_baseline_{uuid.uuid4().hex[:8]}"]
        ids: list[str] = []

        async def register(i: int) -> None:
            doc_id = str(uuid.uuid4())
            await db.clients.insert_one(
                {
                    "_id": doc_id,
                    "name": f"Baseline client {i}",
                    "status": "potential",
                    "version": 1,
                    "outbox": [{"id": doc_id, "topic": "t", "key": doc_id, "value": "{}" * 300}],
                }
            )
            ids.append(doc_id)

        async def read(i: int) -> None:
            await db.clients.find_one({"_id": ids[i % len(ids)]}, {"outbox": 0})

        try:
            out["baseline_register"] = await _drive(count, concurrency, register)
            out["baseline_read"] = await _drive(count, concurrency, read)
        finally:
            await client.drop_database(db.name)
            await client.close()

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
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
            (_baseline, (mongo, args.requests, args.concurrency, out)),
            (_service, (args.url, token, args.requests, args.concurrency, out)),
        ):
            process = ctx.Process(target=target, args=arguments)
            process.start()
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"bench: {target.__name__} failed (exit {process.exitcode})")
        results = dict(out)

    print(f"REST, {args.requests} requests per operation at concurrency {args.concurrency}")
    for operation in ("register", "read"):
        base, service = results[f"baseline_{operation}"], results[f"service_{operation}"]
        print(f"  {operation}:")
        for name, r in (("bare PyMongo loop", base), ("contacts service", service)):
            print(
                f"    {name:<18} p50 {r['p50_ms']:7.2f} ms   p99 {r['p99_ms']:7.2f} ms   "
                f"{r['rps']:8.0f} req/s"
            )
        print(f"    service / baseline rate: {service['rps'] / base['rps']:.2f}")


if __name__ == "__main__":
    main()
