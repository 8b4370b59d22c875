"""One writer at a time per process for documents that carry an outbox (a store workaround).

FerretDB v1, the development and CI store, applies an update as read-modify-write without
isolation: two concurrent updates of one document can silently lose one of them. Measured on
the local stack: 200 ``$push`` updates racing 200 ``$pull`` updates on one document kept 163
and 166. The outbox relay's ``$pull`` of published events races every state change, so a
change, its events, or the removal of published events could vanish (a lost state change, a lost
event, or an event published twice). MongoDB does not have this problem.

Until the kit serialises this itself, every write of this service to an outbox collection, and
the relay's removals, go through one ``asyncio.Lock`` per process. It protects one process only;
several instances on FerretDB can still race (production runs MongoDB).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from crm_kit.runtime import Runtime

_LOCKS: dict[int, asyncio.Lock] = {}


def write_lock(runtime: Runtime) -> asyncio.Lock:
    """The lock of this runtime (one per relay, so one per running app)."""
    return _LOCKS.setdefault(id(runtime.relay), asyncio.Lock())


@contextlib.asynccontextmanager
async def serialised(runtime: Runtime) -> AsyncIterator[None]:
    async with write_lock(runtime):
        yield


class _GuardedCollection:
    def __init__(self, collection: Any, lock: asyncio.Lock) -> None:
        self._collection = collection
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    async def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._collection.bulk_write(*args, **kwargs)


class _GuardedDatabase:
    def __init__(self, db: Any, lock: asyncio.Lock) -> None:
        self._db = db
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)

    def __getitem__(self, name: str) -> _GuardedCollection:
        return _GuardedCollection(self._db[name], self._lock)


async def guard_relay(runtime: Runtime) -> None:
    """A start-up step: the relay removes published events under the same lock."""
    relay: Any = runtime.relay
    if not isinstance(relay.db, _GuardedDatabase):
        relay.db = _GuardedDatabase(relay.db, write_lock(runtime))
