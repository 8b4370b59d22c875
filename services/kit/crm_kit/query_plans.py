"""Which queries read a whole collection: the store's profiler, for tests and checks.

Every query a service makes is to be served by an index. The few that read everything on
purpose (a tiny, fixed-size collection) say so with ``comment=READS_ALL``, which the checks
leave out, as they leave out the kit's own collections and a test's own reads
(``comment=TEST_READ``). A change stream's reads of the oplog are no query of a collection.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

READS_ALL = "reads the whole collection by design"
"""The comment on a query that reads a whole, small collection on purpose."""
TEST_READ = "test"
"""The comment on a test's own reads, which the checks leave out."""
KIT_COLLECTIONS = frozenset({"outbox", "outbox_lease", "processed_events"})
"""The kit's own collections: the outbox is read whole by design (it holds only what waits)."""


async def profile_every_operation(db: Any, *, scans_only: bool = False) -> None:
    """Turn the store's profiler on for ``db`` (64 MB of room): every operation, or with
    ``scans_only`` only those that scanned a collection (a long workload's).

    Only ``db``'s own settings change: the slow-operation threshold (``slowms``) is the whole
    server's, and set to log everything it would make the server write a log line for every
    operation of every database until restarted (a tenth of its CPU under load); a filter
    takes its place for ``db`` alone."""
    await db.command("profile", 0)
    await db.drop_collection("system.profile")
    await db.create_collection("system.profile", capped=True, size=64 << 20)
    if scans_only:
        await db.command("profile", 1, filter={"planSummary": {"$regex": "COLLSCAN"}})
    else:
        await db.command("profile", 2)


def _is_change_stream(op: dict[str, Any]) -> bool:
    pipeline = op.get("originatingCommand", {}).get("pipeline") or [{}]
    return isinstance(pipeline[0], dict) and "$changeStream" in pipeline[0]


def _shape(command: dict[str, Any]) -> Any:
    for key in ("filter", "q", "query", "pipeline"):
        if key in command:
            return command[key]
    return {k: v for k, v in command.items() if not k.startswith("$") and k != "lsid"}


async def collection_scans(
    db: Any, *, also_allowed: Iterable[str] = (), stop_profiling: bool = True
) -> list[str]:
    """The operations the profiler saw reading a whole collection of ``db``, one line each,
    leaving out the kit's collections, ``also_allowed`` ones, change streams and reads
    commented ``READS_ALL`` or ``TEST_READ``."""
    if stop_profiling:
        await db.command("profile", 0, filter="unset")
    allowed = [READS_ALL, TEST_READ]
    skip = KIT_COLLECTIONS | set(also_allowed)
    found = db["system.profile"].find(
        {
            "planSummary": {"$regex": "COLLSCAN"},
            "command.comment": {"$nin": allowed},
            "originatingCommand.comment": {"$nin": allowed},
        }
    )
    scans = []
    async for op in found:
        collection = op["ns"].split(".", 1)[1]
        if collection in skip or collection.startswith("system.") or _is_change_stream(op):
            continue
        shape = _shape(op.get("command") or {})
        scans.append(f"{op['op']} {op['ns']} {op['planSummary']}: {shape}")
    return scans
