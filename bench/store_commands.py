"""The benches' store profiler: pymongo command monitoring by phase, database, collection,
command and filter shape, with the time the store took to answer each kind."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from typing import Any

from pymongo import monitoring

Key = tuple[str, str, str, str, str]
"""(phase, database, collection, command, filter shape)."""

_IGNORED = frozenset({"endSessions", "killCursors", "ping", "hello", "isMaster"})


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
    given), with their summed answer time; register it with ``monitoring.register``."""

    def __init__(self, database: str | None = None) -> None:
        self.database = database
        self.phase = ""
        self.seen: Counter[Key] = Counter()
        self.seconds: defaultdict[Key, float] = defaultdict(float)
        self._keys: dict[int, Key] = {}
        self.lock = threading.Lock()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if not self.phase or name in _IGNORED:
            return
        if self.database is not None and event.database_name != self.database:
            return
        target = event.command.get("collection") if name == "getMore" else event.command.get(name)
        key = (self.phase, event.database_name, str(target), name, filter_of(name, event.command))
        with self.lock:
            self.seen[key] += 1
            self._keys[event.request_id] = key

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        with self.lock:
            key = self._keys.pop(event.request_id, None)
            if key is not None:
                self.seconds[key] += event.duration_micros / 1e6

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        with self.lock:
            self._keys.pop(event.request_id, None)
