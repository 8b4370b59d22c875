"""The local store's write cost under two settings of the project's FerretDB program.

Starts two instances of the program (the one `crm-stack up` builds) on free loopback ports, each
over a fresh data directory, and runs the same write mix on both, in alternating rounds: the
shapes the services send (bulk inserts, `update_many` of 20 `_id`s, `bulk_write` of 20 updates,
single guarded updates with a `$pull`, single inserts). Prints, per document written, the
client's wall time and the store process's own CPU time (from /proc) of each shape on each
instance, and the ratio baseline ÷ candidate. The comparisons:

  synchronous  SQLite's synchronous=full (baseline) against normal, the program's default
  gogc         the Go collector at its default GOGC=100 (baseline) against what `crm-stack`
               starts the store with (`CRM_STACK_FERRETDB_GOGC`, see deploy/local)

    uv run python bench/ferretdb_settings.py [--compare synchronous|gogc] [--docs 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_kit.testing import free_port
from crm_stack.config import DEFAULT_FERRETDB_GOGC, StackConfig
from crm_stack.ferretdb import binary_path, ensure_binary
from proc import cpu_seconds
from pymongo import MongoClient, UpdateOne

CHUNK = 20  # statements per command, as the services send them (docs/decisions/0002)

Variant = tuple[str, list[str], dict[str, str]]
"""A name, the program's flags and its environment."""

COMPARISONS: dict[str, tuple[Variant, Variant]] = {
    "synchronous": (
        ("full", ["-synchronous=full"], {"GOGC": "100"}),
        ("normal", ["-synchronous=normal"], {"GOGC": "100"}),
    ),
    "gogc": (
        ("GOGC=100", ["-synchronous=normal"], {"GOGC": "100"}),
        (f"GOGC={DEFAULT_FERRETDB_GOGC}", ["-synchronous=normal"], {"GOGC": DEFAULT_FERRETDB_GOGC}),
    ),
}


@contextmanager
def ferretdb(variant: Variant, folder: Path) -> Iterator[tuple[MongoClient[dict[str, Any]], int]]:
    """A running instance of ``variant`` over the data directory ``folder``, and its pid."""
    mode, flags, env = variant
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary_path(StackConfig.from_env())),
            f"-listen=127.0.0.1:{port}",
            f"-data-dir={folder}",
            *flags,
            "-log-level=error",
        ],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client: MongoClient[dict[str, Any]] = MongoClient(port=port, directConnection=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                client.admin.command("ping")
                break
            except Exception:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit(f"FerretDB ({mode}) did not answer on port {port}") from None
                time.sleep(0.2)
        yield client, proc.pid
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def round_on(
    client: MongoClient[dict[str, Any]], pid: int, docs: int
) -> dict[str, tuple[float, float]]:
    """One round of the write mix; per document written, by shape: the client's wall seconds
    and the store process's CPU seconds."""

    def timed(fn: Callable[[], object]) -> tuple[float, float]:
        cpu = cpu_seconds(pid)
        started = time.perf_counter()
        fn()
        return time.perf_counter() - started, cpu_seconds(pid) - cpu

    def per(pair: tuple[float, float], n: int) -> tuple[float, float]:
        return pair[0] / n, pair[1] / n

    db = client.bench
    db.t.drop()
    db.m.drop()
    quarter = docs // 4
    ids = [f"d{i:07d}" for i in range(docs)]
    out: dict[str, tuple[float, float]] = {}
    out["insert_many"] = per(
        timed(
            lambda: db.t.insert_many(
                [{"_id": i, "n": 0, "pad": "x" * 600, "outbox": [{"e": i}]} for i in ids]
            )
        ),
        docs,
    )

    def many() -> None:
        for k in range(0, quarter, CHUNK):
            db.t.update_many({"_id": {"$in": ids[k : k + CHUNK]}}, {"$set": {"n": 1}})

    def bulk() -> None:
        for k in range(quarter, 2 * quarter, CHUNK):
            db.t.bulk_write(
                [UpdateOne({"_id": i}, {"$set": {"n": 2}}) for i in ids[k : k + CHUNK]],
                ordered=False,
            )

    def guarded() -> None:
        for i in ids[2 * quarter : 3 * quarter]:
            db.t.update_one({"_id": i, "n": 0}, {"$set": {"n": 3}, "$pull": {"outbox": {"e": i}}})

    def singles() -> None:
        for i in ids[3 * quarter :]:
            db.m.insert_one({"_id": i})

    out[f"update_many x{CHUNK}"] = per(timed(many), quarter)
    out[f"bulk_write x{CHUNK}"] = per(timed(bulk), quarter)
    out["update_one guarded + $pull"] = per(timed(guarded), quarter)
    out["insert_one"] = per(timed(singles), docs - 3 * quarter)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", choices=sorted(COMPARISONS), default="synchronous")
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_binary(StackConfig.from_env(), print)
    base, candidate = COMPARISONS[args.compare]
    names = (base[0], candidate[0])
    wall: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in names}
    cpu: dict[str, dict[str, list[float]]] = {n: defaultdict(list) for n in names}
    with tempfile.TemporaryDirectory(prefix="crm-bench-ferretdb-") as tmp:
        folder = Path(tmp)
        with (
            ferretdb(base, folder / "baseline") as first,
            ferretdb(candidate, folder / "candidate") as second,
        ):
            running = {base[0]: first, candidate[0]: second}
            for client, pid in running.values():
                round_on(client, pid, 200)  # warm both up before measuring
            for r in range(args.rounds):
                order = names if r % 2 == 0 else names[::-1]
                for name in order:
                    client, pid = running[name]
                    for shape, (seconds, used) in round_on(client, pid, args.docs).items():
                        wall[name][shape].append(seconds)
                        cpu[name][shape].append(used)
    b, c = names
    print(f"FerretDB write cost per document, {args.docs} documents x {args.rounds} rounds")
    print(
        f"{'shape':<28} {'wall ms':>8} {b:>9} {c:>9} {'ratio':>6}   "
        f"{'store CPU ms':>12} {b:>9} {c:>9} {'ratio':>6}"
    )
    for shape in wall[b]:
        wb, wc = (min(wall[n][shape]) * 1000 for n in names)
        cb, cc = (statistics.median(cpu[n][shape]) * 1000 for n in names)
        print(
            f"{shape:<28} {'':>8} {wb:>9.3f} {wc:>9.3f} {wb / wc:>6.2f}   "
            f"{'':>12} {cb:>9.3f} {cc:>9.3f} {cb / cc if cc else float('nan'):>6.2f}"
        )
    print(f"(wall: best round of each; CPU: median round; ratio = {b} ÷ {c}, the baseline first)")


if __name__ == "__main__":
    main()
