"""The local store's write cost with SQLite's synchronous setting at `full` and at `normal`.

Starts two instances of the project's FerretDB program (the one `crm-stack up` builds) on free
loopback ports, each over a fresh data directory, and runs the same write mix on both, in
alternating rounds: the shapes the services send (bulk inserts, `update_many` of 20 `_id`s,
`bulk_write` of 20 updates, single guarded updates with a `$pull`, single inserts). Prints the
cost per document of each shape on each instance and the ratio full ÷ normal.

    uv run python bench/ferretdb_synchronous.py [--docs 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from crm_stack.config import StackConfig
from crm_stack.ferretdb import binary_path, ensure_binary
from pymongo import MongoClient, UpdateOne

MODES = ("full", "normal")
CHUNK = 20  # statements per command, as the services send them (docs/decisions/0002)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def ferretdb(mode: str, folder: Path) -> Iterator[MongoClient[dict[str, Any]]]:
    port = free_port()
    proc = subprocess.Popen(
        [
            str(binary_path(StackConfig.from_env())),
            f"-listen=127.0.0.1:{port}",
            f"-data-dir={folder / mode}",
            f"-synchronous={mode}",
            "-log-level=error",
        ],
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
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def round_on(client: MongoClient[dict[str, Any]], docs: int) -> dict[str, float]:
    """One round of the write mix; seconds per document written, by shape."""
    db = client.bench
    db.t.drop()
    db.m.drop()
    quarter = docs // 4
    ids = [f"d{i:07d}" for i in range(docs)]
    out: dict[str, float] = {}
    out["insert_many"] = (
        timed(
            lambda: db.t.insert_many(
                [{"_id": i, "n": 0, "pad": "x" * 600, "outbox": [{"e": i}]} for i in ids]
            )
        )
        / docs
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

    out[f"update_many x{CHUNK}"] = timed(many) / quarter
    out[f"bulk_write x{CHUNK}"] = timed(bulk) / quarter
    out["update_one guarded + $pull"] = timed(guarded) / quarter
    out["insert_one"] = timed(singles) / (docs - 3 * quarter)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ensure_binary(StackConfig.from_env(), print)
    seconds: dict[str, dict[str, list[float]]] = {m: defaultdict(list) for m in MODES}
    with tempfile.TemporaryDirectory(prefix="crm-bench-sync-") as tmp:
        folder = Path(tmp)
        with ferretdb("full", folder) as full, ferretdb("normal", folder) as normal:
            clients = {"full": full, "normal": normal}
            round_on(full, 200)  # warm both up before measuring
            round_on(normal, 200)
            for r in range(args.rounds):
                order = MODES if r % 2 == 0 else MODES[::-1]
                for mode in order:
                    for shape, value in round_on(clients[mode], args.docs).items():
                        seconds[mode][shape].append(value)
    print(f"FerretDB write cost per document, {args.docs} documents x {args.rounds} rounds")
    print(f"{'shape':<28} {'full ms':>9} {'normal ms':>10} {'full/normal':>12}")
    for shape in seconds["full"]:
        f = min(seconds["full"][shape]) * 1000
        n = min(seconds["normal"][shape]) * 1000
        print(f"{shape:<28} {f:>9.3f} {n:>10.3f} {f / n:>12.2f}")
    print("(best round of each; the baseline is the same program with synchronous=full)")


if __name__ == "__main__":
    main()
