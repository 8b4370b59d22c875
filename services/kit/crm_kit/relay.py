"""The outbox relay: publishes the events of the ``outbox`` collection, then deletes them.

One relay per service database publishes at a time: it holds a lease (a document in
``outbox_lease`` with an owner and an expiry, renewed while it works), so the instances of a
scaled-out service do not publish each event once each, and a crashed holder's place is taken
once its lease runs out. The holder opens a change stream on the outbox's inserts, then reads
what is already there in write order (what a crashed holder or a failed publish left), and
from then on publishes what the stream brings, in batches, as it is committed. Nothing polls:
between writes the relay waits on the stream.

Delivery is at-least-once: an event published but not yet deleted when the process dies is
published again by the next holder. A transient error (the broker or the store away, a
timeout, the lease lost) ends the pass; the next one starts over from the collection. An event
the broker refuses for good (too large, an invalid record, no right to write its topic) is
moved to ``outbox_failed`` with the error, counted and logged, and the others go on.

Each record goes out with the envelope as its value, the aggregate id as its key and the
envelope's correlation id as its ``correlation_id`` header: one id, equal in both places.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.change_stream import AsyncChangeStream
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_kit.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_SET_ASIDE
from crm_kit.outbox import OUTBOX, Document
from crm_kit.records import PRODUCER_OUT_OF_STEP, is_permanent
from crm_kit.sealing import Sealer

log = logging.getLogger(__name__)

LEASES = "outbox_lease"
OUTBOX_FAILED = "outbox_failed"
"""Outbox documents the broker refused for good, with ``error``, ``error_type`` and
``failed_at``: kept for an operator, never published by the relay."""
STOP_WAIT_S = 60.0
"""The longest a stopping relay waits for its pass to end (a store that does not answer)."""
_LEASE_ID = "relay"
BATCH_SIZE = 500
"""Outbox documents the relay publishes before it deletes them (its default): what a relay
killed between its publish and its delete leaves to be published again."""
STREAM_PIPELINE: list[dict[str, Any]] = [
    {"$match": {"operationType": "insert"}},
    {"$project": {"fullDocument": 1}},
]
"""The relay's change stream: inserts, and of each only the inserted document (and the resume
token, ``_id``). The change's other fields (its session, transaction, namespace, times) were
half of what the driver decoded for each event (``bench/change_stream_read.py``)."""


class Publisher(Protocol):
    """Sends one record; the returned awaitable resolves once the broker acknowledged it.

    ``correlation_id`` becomes the record's ``correlation_id`` header (a header of the same
    name in ``headers`` wins: a dead letter keeps its original's)."""

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Awaitable[Any]: ...


class LeaseLost(RuntimeError):
    """Another relay holds the lease now; this one stops publishing."""


class OutboxRelay:
    def __init__(
        self,
        db: AsyncDatabase[Document],
        publisher: Publisher,
        *,
        service: str,
        batch_size: int = BATCH_SIZE,
        lease_s: float = 10.0,
        retry_s: float = 1.0,
        stream_wait_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sealer: Sealer | None = None,
    ) -> None:
        if lease_s <= 0:
            raise ValueError("lease_s must be positive")
        self.db = db
        self.outbox = db[OUTBOX]
        self.leases = db[LEASES]
        self.failed = db[OUTBOX_FAILED]
        self.publisher = publisher
        self.sealer = sealer
        """Seals personal fields as they leave (``crm_kit.sealing``); none in unit tests."""
        self.service = service
        self.batch_size = batch_size
        self.lease_s = lease_s
        self.retry_s = retry_s
        # How long one read of the change stream waits for news: also how soon a stopping
        # relay's reader notices (and how often an idle relay checks its lease).
        self.stream_wait_s = min(stream_wait_s, lease_s / 3)
        self.owner = f"{service}:{uuid.uuid4().hex}"
        self._clock = clock
        self._renewed_at = float("-inf")
        self._holding = False
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self.service}")

    async def stop(self) -> None:
        """Stop publishing and give up the lease; a pass still waiting on the store after
        ``STOP_WAIT_S`` is cancelled (what it had not deleted is published again)."""
        self._stopping.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_WAIT_S)
            if not done:
                log.error("outbox relay did not stop within %.0f s; cancelling it", STOP_WAIT_S)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def holding(self) -> bool:
        """True while this relay holds the lease (it is the one publishing)."""
        return self._holding

    # -- the lease ---------------------------------------------------------------------------
    async def acquire(self) -> bool:
        """Take or renew the lease; False while another relay's lease is still running."""
        now = datetime.now(UTC)
        try:
            await self.leases.update_one(
                {"_id": _LEASE_ID, "$or": [{"owner": self.owner}, {"until": {"$lt": now}}]},
                {"$set": {"owner": self.owner, "until": now + timedelta(seconds=self.lease_s)}},
                upsert=True,
            )
        except DuplicateKeyError:
            self._holding = False
            return False
        self._holding = True
        self._renewed_at = self._clock()
        return True

    async def _renew_if_due(self) -> None:
        if self._clock() - self._renewed_at >= self.lease_s / 3 and not await self.acquire():
            raise LeaseLost(f"{self.owner} lost the outbox lease")

    async def release(self) -> None:
        self._holding = False
        await self.leases.delete_one({"_id": _LEASE_ID, "owner": self.owner})

    # -- work --------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if await self.acquire():
                    await self._serve()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The events stay in the outbox; the next pass starts over from it.
                log.warning("outbox relay pass ended; starting over", exc_info=True)
            await self._pause(self.retry_s if self._holding else self.lease_s / 3)
        with contextlib.suppress(Exception):
            if self._holding:
                await self.release()

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)

    async def _serve(self) -> None:
        """Hold the lease and publish until stopped: first what is there, then the stream."""
        wait_ms = max(50, int(self.stream_wait_s * 1000))
        async with await self.outbox.watch(
            STREAM_PIPELINE, max_await_time_ms=wait_ms, batch_size=self.batch_size
        ) as stream:
            # Inserts committed after the stream opened and before the drain read them come
            # twice, from both: the ones the drain published are skipped until the stream
            # has caught up.
            drained = await self.drain()
            # The stream is read by a task of its own into a queue, so that what arrives while
            # a batch is being published is there for the next one, and a batch goes out as
            # soon as the stream has nothing more at hand (no wait for a fuller batch).
            queue: asyncio.Queue[Document | None] = asyncio.Queue(maxsize=4 * self.batch_size)
            done_reading = asyncio.Event()
            reader = asyncio.create_task(
                _read_stream(stream, queue, done_reading), name="outbox-stream"
            )
            try:
                while not self._stopping.is_set():
                    await self._renew_if_due()
                    batch, caught_up = await self._next_batch(queue, reader)
                    fresh = [d for d in batch if d["_id"] not in drained]
                    if caught_up:
                        drained.clear()
                    if fresh:
                        await self._publish(fresh)
            finally:
                # The reader is told to stop, not cancelled: a store operation cancelled in
                # flight can leave the driver's connection pool short. Its current read ends
                # within the stream's wait (or the server selection timeout while the store is
                # away); what it still puts in the queue is dropped and read again next pass.
                done_reading.set()
                while not reader.done():
                    while not queue.empty():
                        queue.get_nowait()
                    await asyncio.wait({reader}, timeout=0.1)
                if not reader.cancelled() and reader.exception() is not None:
                    log.debug("outbox stream reader ended with %r", reader.exception())

    async def _next_batch(
        self, queue: asyncio.Queue[Document | None], reader: asyncio.Task[None]
    ) -> tuple[list[Document], bool]:
        """The events at hand, up to ``batch_size``, waiting only for the first; and whether
        the stream said it had caught up (a read that found nothing new)."""
        getter = asyncio.ensure_future(queue.get())
        stopping = asyncio.ensure_future(self._stopping.wait())
        done, _ = await asyncio.wait(
            {getter, reader, stopping}, return_when=asyncio.FIRST_COMPLETED
        )
        stopping.cancel()
        if getter not in done:
            getter.cancel()
            if reader in done:
                reader.result()  # the stream failed: raise its error, ending the pass
                raise RuntimeError("the outbox change stream ended")
            return [], False  # stopping
        first = getter.result()
        if first is None:
            return [], True
        batch = [first]
        while len(batch) < self.batch_size and not queue.empty():
            item = queue.get_nowait()
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    async def drain(self) -> set[Any]:
        """Publish everything in the outbox now, in write order; returns the ids published."""
        published: set[Any] = set()
        while not self._stopping.is_set():
            await self._renew_if_due()
            batch = (
                await self.outbox.find({}).sort("_id", ASCENDING).limit(self.batch_size).to_list()
            )
            OUTBOX_BACKLOG.labels(self.service).set(len(batch))
            if not batch:
                break
            await self._publish(batch)
            published.update(d["_id"] for d in batch)
            if len(batch) < self.batch_size:
                break
        return published

    async def _publish(self, entries: Sequence[Document]) -> None:
        # Send everything first and await afterwards: the producer batches, and records with
        # one key keep their order on their partition (idempotent producer). A transient
        # failure ends the pass before anything of this batch is deleted: the next pass sends
        # again. A permanent refusal of one record (too large, invalid, not authorised for its
        # topic) sets that document aside instead, so it cannot hold the others back.
        refused: dict[Any, BaseException] = {}
        sent: list[tuple[Document, Awaitable[Any]]] = []
        values = await self._values(entries)
        for entry in entries:
            try:
                sent.append((entry, await self._send(entry, values[entry["_id"]])))
            except Exception as exc:
                if not is_permanent(exc):
                    raise
                refused[entry["_id"]] = exc  # the producer's own check: nothing was sent
        transient: BaseException | None = None
        in_refused_batch: list[Document] = []
        for entry, future in sent:
            try:
                await future
            except Exception as exc:
                if is_permanent(exc) or isinstance(exc, PRODUCER_OUT_OF_STEP):
                    in_refused_batch.append(entry)
                else:
                    transient = transient or exc
        if transient is not None:
            raise transient
        # The broker refuses a whole producer batch for one bad record in it, and the records
        # sent after it fail too (the producer is out of step until it is replaced: see
        # ``BrokerPublisher``): each of them goes again on its own, in order, and only one
        # refused alone is set aside.
        for entry in in_refused_batch:
            try:
                await (await self._send(entry, values[entry["_id"]]))
            except Exception as exc:
                if not is_permanent(exc):
                    raise
                refused[entry["_id"]] = exc
        if refused:
            await self._set_aside([e for e in entries if e["_id"] in refused], refused)
        published = [e for e in entries if e["_id"] not in refused]
        await self.outbox.delete_many({"_id": {"$in": [e["_id"] for e in published]}})
        for topic, count in Counter(e["topic"] for e in published).items():
            EVENTS_PUBLISHED.labels(self.service, topic).inc(count)

    async def _values(self, entries: Sequence[Document]) -> dict[Any, str]:
        """Each entry's record value by id: the envelope, its personal fields sealed (the keys
        of the whole batch read from the vault at once)."""
        values = [str(e["value"]) for e in entries]
        if self.sealer is not None:
            values = await self.sealer.seal_records(
                [(str(e["event_type"]), v) for e, v in zip(entries, values, strict=True)]
            )
        return {e["_id"]: v for e, v in zip(entries, values, strict=True)}

    async def _send(self, entry: Document, value: str) -> Awaitable[Any]:
        return await self.publisher.send(
            entry["topic"],
            entry["key"].encode(),
            value.encode(),
            correlation_id=correlation_of(entry),
        )

    async def _set_aside(
        self, entries: Sequence[Document], errors: dict[Any, BaseException]
    ) -> None:
        """Move documents the broker refused for good to ``outbox_failed``, with the error."""
        now = datetime.now(UTC)
        for entry in entries:
            error = errors[entry["_id"]]
            # Upsert: a pass that stopped between this and the delete sets it aside again.
            await self.failed.replace_one(
                {"_id": entry["_id"]},
                {
                    **entry,
                    "error": repr(error)[:4000],
                    "error_type": type(error).__name__,
                    "failed_at": now,
                },
                upsert=True,
            )
            OUTBOX_SET_ASIDE.labels(self.service, entry["topic"]).inc()
            log.error(
                "the broker refused %s %s for %s for good (%r); moved to %s",
                entry.get("event_type", "event"),
                entry.get("event_id"),
                entry["topic"],
                error,
                OUTBOX_FAILED,
            )
        await self.outbox.delete_many({"_id": {"$in": [e["_id"] for e in entries]}})


def correlation_of(entry: Document) -> str | None:
    """The correlation id of an outbox document: stored beside the envelope, or (a document
    written before it was) read from the envelope itself."""
    stored = entry.get("correlation_id")
    if stored:
        return str(stored)
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        found = json.loads(entry["value"]).get("correlation_id")
        return str(found) if found else None
    return None


async def _read_stream(
    stream: AsyncChangeStream[Document],
    queue: asyncio.Queue[Document | None],
    done: asyncio.Event,
) -> None:
    """Every inserted outbox document, in commit order; None each time a read finds nothing
    new (after waiting up to the stream's ``max_await_time_ms``). Ends once ``done`` is set."""
    while not done.is_set():
        change = await stream.try_next()
        await queue.put(change["fullDocument"] if change is not None else None)
