"""The outbox relay: publishes pending events and then removes exactly those elements.

It wakes at once when a local write says which document has new events, and also scans every
``scan_interval`` seconds, which is how events left behind by a crash are found. Delivery is
at-least-once: an event published but not yet removed when the process dies is published again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pymongo import UpdateOne
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG
from crm_kit.outbox import OUTBOX, Document

log = logging.getLogger(__name__)

PULL_CHUNK = 20
"""Update statements per command. FerretDB v1 on SQLite holds one pooled connection (of 100 per
database) per statement until the whole command ends, so a command of 100 statements deadlocks
the server; small commands leave room for other writers (docs/decisions/0002)."""


class Publisher(Protocol):
    """Sends one record; the returned awaitable resolves once the broker acknowledged it."""

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> Awaitable[Any]: ...


@dataclass
class _Pending:
    collection: str
    doc_id: Any
    entries: list[Document]


class OutboxRelay:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        collections: Sequence[str],
        publisher: Publisher,
        *,
        service: str,
        scan_interval: float = 1.0,
        batch_size: int = 500,
        max_scan_interval: float | None = None,
        scan_share: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < scan_share <= 1:
            raise ValueError("scan_share must be in (0, 1]")
        self.db = db
        self.collections = tuple(collections)
        self.publisher = publisher
        self.service = service
        self.scan_interval = scan_interval
        self.max_scan_interval = max(scan_interval, max_scan_interval or scan_interval)
        self.batch_size = batch_size
        self.scan_share = scan_share
        self._clock = clock
        self._last_scan_s = 0.0
        self._idle_scans = 0
        self._woken: dict[str, set[Any]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self, collection: str, doc_id: Any) -> None:
        """Called after a local write that appended events to ``doc_id``."""
        self._woken.setdefault(collection, set()).add(doc_id)
        self._wake.set()

    @property
    def next_scan_in(self) -> float:
        """Seconds until the next periodic scan: ``scan_interval`` while scans find work, then
        doubling after each scan that found nothing, up to ``max_scan_interval``. Local writes
        wake the relay at once, so the scan only catches what they did not (a peer instance
        that crashed, a publish that failed); on the local FerretDB each scan reads every
        document of every outbox collection.

        Never sooner, though, than the last scan's own duration allows for the scans to take
        at most ``scan_share`` of the time: on FerretDB a scan of 100,000 documents took 20 s,
        and with a 30 s interval the scans had become a fifth of the store's work (and the
        woken publishes waited behind each)."""
        backed_off: float = self.scan_interval * 2.0 ** min(self._idle_scans, 16)
        cost_floor = self._last_scan_s * (1.0 - self.scan_share) / self.scan_share
        return max(min(backed_off, self.max_scan_interval), cost_floor)

    # -- work --------------------------------------------------------------------------------
    async def _run(self) -> None:
        await self._guarded(self.scan())
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.next_scan_in)
                woken = True
            except TimeoutError:
                woken = False
            self._wake.clear()
            if woken and self._woken:
                await self._guarded(self.publish_woken())
            else:
                await self._guarded(self.scan())
        # Leave nothing behind that a local write asked for before shutdown.
        await self._guarded(self.publish_woken())

    async def _guarded(self, work: Awaitable[int]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            # The events stay in the documents; the next scan retries them.
            log.exception("outbox relay pass failed; will retry on the next scan")
            await asyncio.sleep(min(self.scan_interval, 1.0))

    async def publish_woken(self) -> int:
        woken, self._woken = self._woken, {}
        published = 0
        for name, ids in woken.items():
            id_list = list(ids)
            for start in range(0, len(id_list), self.batch_size):
                chunk = id_list[start : start + self.batch_size]
                docs = self.db[name].find(
                    {"_id": {"$in": chunk}, f"{OUTBOX}.0": {"$exists": True}}, {OUTBOX: 1}
                )
                pending = [_Pending(name, d["_id"], d[OUTBOX]) async for d in docs]
                sent = await self._publish(pending)
                published += sent
                if sent < sum(len(p.entries) for p in pending):
                    self._idle_scans = 0  # what failed is retried by the next scan, soon
        return published

    async def scan(self) -> int:
        """Publish everything pending in every collection; returns how many events."""
        published = 0
        backlog = 0
        started = self._clock()
        for name in self.collections:
            while True:
                docs = (
                    self.db[name]
                    .find({f"{OUTBOX}.0": {"$exists": True}}, {OUTBOX: 1})
                    .limit(self.batch_size)
                )
                pending = [_Pending(name, d["_id"], d[OUTBOX]) async for d in docs]
                backlog += len(pending)
                if not pending:
                    break
                sent = await self._publish(pending)
                published += sent
                if sent < sum(len(p.entries) for p in pending) or len(pending) < self.batch_size:
                    break
        OUTBOX_BACKLOG.labels(self.service).set(backlog)
        self._idle_scans = 0 if backlog else self._idle_scans + 1
        self._last_scan_s = max(0.0, self._clock() - started)
        return published

    async def _publish(self, pending: list[_Pending]) -> int:
        # Send everything first and await afterwards: the producer batches, and records with
        # one key keep their order on their partition (idempotent producer).
        sends: list[tuple[_Pending, list[Awaitable[Any]]]] = []
        for item in pending:
            futures = [
                await self.publisher.send(e["topic"], e["key"].encode(), e["value"].encode())
                for e in item.entries
            ]
            sends.append((item, futures))
        removals: dict[str, list[UpdateOne]] = {}
        count = 0
        for item, futures in sends:
            for entry, future in zip(item.entries, futures, strict=True):
                try:
                    await future
                except Exception:
                    log.warning(
                        "publishing %s failed; it stays in the outbox", entry["id"], exc_info=True
                    )
                    break  # keep the rest of this document's events behind the failed one
                removals.setdefault(item.collection, []).append(
                    UpdateOne({"_id": item.doc_id}, {"$pull": {OUTBOX: entry}})
                )
                EVENTS_PUBLISHED.labels(self.service, entry["topic"]).inc()
                count += 1
        for name, ops in removals.items():
            for start in range(0, len(ops), PULL_CHUNK):
                await self.db[name].bulk_write(ops[start : start + PULL_CHUNK], ordered=False)
        return count
