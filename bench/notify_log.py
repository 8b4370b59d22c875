"""Notify's delivery log, paged newest-first by many callers at once, and the store's memory.

    eval "$(uv run crm-stack env)" && uv run python bench/notify_log.py [--notifications 100000]

Loads ``--notifications`` delivered notifications (the documents notify itself writes) into a
throw-away database, starts notify on it as a separate process (uvicorn, a free port), and then
``--callers`` callers at once each read ``--pages`` pages of ``GET /notifications?limit=50``,
newest first, following the cursor. Meanwhile the store's resident memory (mongod's VmRSS from
/proc) is sampled every 100 ms. Baseline, in the same run: the same pages read by the same
number of concurrent bare PyMongo loops (``find({"log_keys": "*"}).sort("seq", -1).limit(50)``,
the log index's range of every notification, the cursor as a ``seq $lt`` filter). Prints pages
per second and p50/p95 of each, their ratio, and the store's memory before, at its peak and
after. The database is dropped at the end. Figures only; never part
of pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from crm_kit.auth import sign_token
from crm_kit.testing import free_port, new_jwt_keys
from crm_notify.repository.notifications import EVERY, LOG_KEYS, log_keys
from crm_stack.stack import store_pid
from pymongo import DESCENDING, AsyncMongoClient

LIMIT = 50


def rss_mb(pid: int | None) -> float:
    if pid is None:
        return 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def notification(n: int, at: datetime) -> dict[str, Any]:
    nid = uuid.uuid4().hex
    person = f"person-{n % 5000}"
    doc = {
        "_id": nid,
        "kind": "invitation",
        "recipient": {"kind": "person", "id": person, "client_id": f"client-{n % 700}"},
        "source": {"event_id": str(uuid.uuid4()), "event_type": "InvitationRequested"},
        "variables": {"event_title": f"Seminar {n % 40}", "person_name": f"Guest {n}"},
        "event_id": f"event-{n % 40}",
        "participant_id": str(uuid.uuid4()),
        "language_hint": "en",
        "preferred_hint": "email",
        "channel_hints": ["email"],
        "calendar": None,
        "status": "delivered",
        "attempts": 1,
        "next_attempt_at": at,
        "lease": None,
        "created_at": at,
        "delivered_at": at,
        "settled_at": at,
        "channel": "email",
        "address": f"guest{n}@example.test",
        "seq": f"{at.isoformat()}|{nid}",
        "version": 2,
    }
    return {**doc, LOG_KEYS: log_keys(doc)}


async def load(db: Any, count: int) -> None:
    start = datetime.now(UTC) - timedelta(days=30)
    step = timedelta(days=30) / max(count, 1)
    for first in range(0, count, 5000):
        docs = [notification(n, start + step * n) for n in range(first, min(count, first + 5000))]
        await db.notifications.insert_many(docs, ordered=False)


def start_notify(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    script = Path(sys.executable).parent / "crm-notify"
    with log.open("ab") as out:
        proc = subprocess.Popen([str(script)], env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"notify exited; see {log}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"notify did not become ready; see {log}")


async def callers(count: int, pages: int, read_page: Any) -> tuple[list[float], float]:
    latencies: list[float] = []

    async def one() -> None:
        cursor: str | None = None
        for _ in range(pages):
            started = time.perf_counter()
            cursor = await read_page(cursor)
            latencies.append(time.perf_counter() - started)
            if cursor is None:
                return

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return latencies, time.perf_counter() - started


async def sample_memory(pid: int | None, peak: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        peak.append(rss_mb(pid))
        await asyncio.sleep(0.1)


def describe(name: str, latencies: list[float], elapsed: float) -> tuple[float, str]:
    rate = len(latencies) / elapsed
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
    p50 = statistics.median(ordered) * 1000
    return rate, f"  {name:<34} {rate:8.0f} pages/s  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"


async def main(args: argparse.Namespace) -> None:
    uri = os.environ["CRM_MONGO_URI"]
    database = f"bench_notify_log_{uuid.uuid4().hex[:8]}"
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    db = mongo[database]
    pid = store_pid()
    folder = Path(tempfile.mkdtemp(prefix="bench-notify-log-"))
    keys = new_jwt_keys(folder)
    port = free_port()
    env = {
        **os.environ,
        "CRM_NOTIFY_MONGO_DATABASE": database,
        "CRM_NOTIFY_CONSUMER_GROUP": database,
        "CRM_NOTIFY_CONSUMER_START_AT_END": "true",
        "CRM_NOTIFY_HTTP_PORT": str(port),
        "CRM_NOTIFY_JWT_PUBLIC_KEY_FILE": str(keys.public_file),
        "CRM_NOTIFY_JWT_ISSUER": keys.issuer,
        "CRM_NOTIFY_JWT_AUDIENCE": keys.audience,
        "CRM_NOTIFY_LOG_LEVEL": "WARNING",
    }
    token = sign_token(
        keys.private_pem,
        subject="bench",
        roles=("integration",),
        scopes=("notify:read",),
        issuer=keys.issuer,
        audience=keys.audience,
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        loaded_at = time.perf_counter()
        await load(db, args.notifications)
        print(
            f"{args.notifications} notifications loaded in {time.perf_counter() - loaded_at:.1f} s"
        )
        proc = start_notify(env, port, folder / "notify.log")
        collection = db.notifications

        async def bare_page(cursor: str | None) -> str | None:
            query: dict[str, Any] = {LOG_KEYS: EVERY}
            if cursor:
                query["seq"] = {"$lt": cursor}
            found = collection.find(query).sort("seq", DESCENDING).limit(LIMIT)
            docs = [d async for d in found]
            return docs[-1]["seq"] if len(docs) == LIMIT else None

        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
            limits=httpx.Limits(max_connections=args.callers),
        ) as http:

            async def service_page(cursor: str | None) -> str | None:
                params: dict[str, Any] = {"limit": LIMIT}
                if cursor:
                    params["cursor"] = cursor
                response = await http.get("/notifications", params=params)
                response.raise_for_status()
                found: str | None = response.json().get("next_cursor")
                return found

            await service_page(None)  # connections and the service warm
            before = rss_mb(pid)
            results = []
            for name, read in (
                ("bare PyMongo (baseline)", bare_page),
                ("GET /notifications", service_page),
            ):
                peak: list[float] = []
                stop = asyncio.Event()
                sampler = asyncio.create_task(sample_memory(pid, peak, stop))
                latencies, elapsed = await callers(args.callers, args.pages, read)
                stop.set()
                await sampler
                results.append((name, latencies, elapsed, max(peak or [0.0])))
            after = rss_mb(pid)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
        await mongo.drop_database(database)
        await mongo.close()

    print(
        f"notification log: {args.callers} callers x {args.pages} pages of {LIMIT}, newest first, "
        f"over {args.notifications} notifications"
    )
    rates = []
    for name, latencies, elapsed, peak in results:
        rate, line = describe(name, latencies, elapsed)
        rates.append(rate)
        print(f"{line}  store RSS peak {peak:6.0f} MB")
    print(f"  ratio service / baseline (rate)    {rates[1] / rates[0]:8.2f}")
    print(f"  store RSS before {before:.0f} MB, after {after:.0f} MB (pid {pid})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifications", type=int, default=100_000)
    parser.add_argument("--callers", type=int, default=50)
    parser.add_argument("--pages", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
