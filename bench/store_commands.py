"""The benches' store profiler: pymongo command monitoring by phase, database, collection,
command and filter shape, with the time the store took to answer each kind. A ``getMore`` is
counted under the filter of the command that opened its cursor; a ``commitTransaction`` or
``abortTransaction`` (sent to ``admin``) under the database its transaction wrote to."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

from pymongo import monitoring

Key = tuple[str, str, str, str, str]
"""(phase, database, collection, command, filter shape)."""

WRITES = frozenset({"insert", "update", "delete", "findAndModify", "commitTransaction"})
"""The commands that write (a commit makes its transaction's writes durable)."""

_IGNORED = frozenset({"endSessions", "killCursors", "ping", "hello", "isMaster"})
_ENDS = frozenset({"commitTransaction", "abortTransaction"})
"""The commands that end a transaction: sent to ``admin``, whatever database it wrote to."""


def _transaction(command: Any) -> tuple[bytes, int] | None:
    """(session id, transaction number) of a command in a transaction, else ``None``."""
    lsid, number = command.get("lsid"), command.get("txnNumber")
    if "autocommit" not in command or not isinstance(lsid, dict) or number is None:
        return None  # a retryable write has a number too, but no transaction
    return bytes(lsid["id"]), int(number)


def shape(value: Any) -> Any:
    """A filter with its values replaced by their kind: what decides an index or a scan."""
    if isinstance(value, dict):
        return {k: shape(v) if k.startswith("$") or isinstance(v, dict) else "·" for k, v in
                sorted(value.items())}  # fmt: skip
    if isinstance(value, list):
        return f"[{len(value)}]"
    return "·"


def filter_of(name: str, command: Any) -> str:
    """The shape of a command's filter, and the statement count of a bulk write (``x20``)."""
    if name in ("update", "delete"):
        statements = command.get("updates" if name == "update" else "deletes") or [{}]
        return f"{shape(statements[0].get('q', {}))} x{len(statements)}"
    if name == "aggregate":
        stages = command.get("pipeline") or [{}]
        return str(shape(stages[0].get("$match", {})))
    if name in ("find", "count"):
        return str(shape(command.get("filter") or command.get("query") or {}))
    if name == "findAndModify":
        return str(shape(command.get("query", {})))
    if name == "insert":
        return f"x{len(command.get('documents') or [])}"
    return ""


class Commands(monitoring.CommandListener):
    """Counts the store commands sent while ``phase`` is set (to ``database`` only, when
    given), with their summed answer time; register it with ``monitoring.register``.

    ``describe(name, command)`` names a command's filter (default :func:`filter_of`); a
    ``getMore`` takes the description of the command that opened its cursor (``?`` when that
    was not seen)."""

    def __init__(
        self, database: str | None = None, describe: Callable[[str, Any], str] = filter_of
    ) -> None:
        self.database = database
        self.describe = describe
        self.phase = ""
        self.seen: Counter[Key] = Counter()
        self.seconds: defaultdict[Key, float] = defaultdict(float)
        self._keys: dict[int, Key] = {}
        self._cursors: dict[int, str] = {}
        self._transactions: dict[bytes, int] = {}  # session → its transaction on ``database``
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if not self.phase or name in _IGNORED:
            return
        with self.lock:
            if self.database is not None and event.database_name != self.database:
                ended = _transaction(event.command) if name in _ENDS else None
                if ended is None or self._transactions.get(ended[0]) != ended[1]:
                    return
            elif self.database is not None:
                begun = _transaction(event.command)
                if begun is not None:
                    self._transactions[begun[0]] = begun[1]
            target: Any
            if name in _ENDS:
                target, described = "-", ""
            elif name == "getMore":
                target = event.command.get("collection")
                described = self._cursors.get(int(event.command.get("getMore", 0)), "?")
            else:
                target = event.command.get(name)
                described = self.describe(name, event.command)
            key = (self.phase, event.database_name, str(target), name, described)
            self.seen[key] += 1
            self._keys[event.request_id] = key

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self.lock:
            key = self._keys.pop(event.request_id, None)
            if key is None:
                return
            self.seconds[key] += event.duration_micros / 1e6
            cursor = event.reply.get("cursor") if isinstance(event.reply, dict) else None
            if isinstance(cursor, dict) and cursor.get("id"):
                self._cursors[int(cursor["id"])] = key[4]

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self.lock:
            self._keys.pop(event.request_id, None)

    def by_command(self, phase: str | None = None) -> dict[tuple[str, str], tuple[int, float]]:
        """(command, collection) → (commands, seconds), over ``phase`` or every phase; the
        kinds first seen first."""
        found: dict[tuple[str, str], tuple[int, float]] = {}
        with self.lock:
            for key, n in self.seen.items():
                if phase is None or key[0] == phase:
                    count, seconds = found.get((key[3], key[2]), (0, 0.0))
                    found[(key[3], key[2])] = (count + n, seconds + self.seconds[key])
        return found

    def writes_and_reads(self, phase: str | None = None) -> tuple[int, int]:
        """The commands that wrote and the others, over ``phase`` or every phase."""
        kinds = self.by_command(phase)
        writes = sum(n for (name, _), (n, _) in kinds.items() if name in WRITES)
        return writes, sum(n for n, _ in kinds.values()) - writes
