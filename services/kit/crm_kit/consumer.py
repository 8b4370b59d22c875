"""The idempotent consumer: effect first, then the processed marker, then the offset.

For every message: dead-letter it unparsed if it is larger than any event may be
(``max_record_bytes``); parse the envelope (unparseable → dead letter); skip event types this
consumer has no handler for; skip an event this group already processed; otherwise run the
handler, retrying a bounded number of times with exponential back-off, and dead-letter the
message with the error when the budget is spent. The caller commits the offset only after
:meth:`IdempotentConsumer.process` returned, so a crash anywhere redelivers the message.

The marker and the handler's effect are two writes (a handler's effect is its own unit: a
document update or a transaction with its outbox events, and a batch's markers are written in
one insert after the batch), so a crash between them redelivers an event whose effect is already
stored: handlers must be idempotent on their own (upsert by a natural id, or a version guard).
The marker makes the common redelivery cheap and keeps non-repeatable side effects from
repeating; a TTL index expires markers after ``processed_marker_ttl_days``. An event type whose
handler's effect is itself the record (``unmarked``: an insert under an id made from the event's
id, or a state the event moves once) gets no marker, and a redelivered one changes nothing.

A dead letter always fits the broker (``crm_kit.dead_letters``: the record's headers and
coordinates, the error, its body cut to a bound when larger than an event may be), and a
refusal by the broker that would repeat for ever never rewinds the batch.

A handler runs in the context of its event (``crm_kit.logs``): its log lines carry the
envelope's correlation id, and the events it writes carry that correlation id and the event's
``event_id`` as their causation id. A batch handler's run shares the correlation id when its
events do (an invitation run's do); otherwise it writes its events with each envelope's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bson import Binary
from crm_contracts.base import ContractEvent
from crm_contracts.envelope import Envelope
from crm_contracts.topics import dead_letter_topic
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from crm_kit.dead_letters import DLQ_AT as DLQ_AT
from crm_kit.dead_letters import DLQ_ATTEMPTS as DLQ_ATTEMPTS
from crm_kit.dead_letters import DLQ_ERROR as DLQ_ERROR
from crm_kit.dead_letters import DLQ_ERROR_TYPE as DLQ_ERROR_TYPE
from crm_kit.dead_letters import DLQ_GROUP as DLQ_GROUP
from crm_kit.dead_letters import DLQ_SOURCE_OFFSET as DLQ_SOURCE_OFFSET
from crm_kit.dead_letters import DLQ_SOURCE_PARTITION as DLQ_SOURCE_PARTITION
from crm_kit.dead_letters import DLQ_SOURCE_TOPIC as DLQ_SOURCE_TOPIC
from crm_kit.dead_letters import DeadLetter, OversizedRecord, build_dead_letter
from crm_kit.dead_letters import RecordInfo as RecordInfo
from crm_kit.logs import causation_id, correlation_id
from crm_kit.metrics import (
    DEAD_LETTERS_KEPT,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    HANDLER_RETRIES,
)
from crm_kit.outbox import Document
from crm_kit.records import DEFAULT_EVENT_MAX_BYTES, is_permanent
from crm_kit.relay import Publisher
from crm_kit.sealing import Sealer

log = logging.getLogger(__name__)

Handler = Callable[[ContractEvent, Envelope], Awaitable[None]]
Keys = Mapping[str, bytes | None]
"""Data keys by key vault subject, read once for a batch of records (``crm_kit.sealing``)."""
BatchHandler = Callable[[Sequence[tuple[ContractEvent, Envelope]]], Awaitable[None]]
"""Handles several events of one type at once (e.g. one bulk write for all of them)."""
PROCESSED = "processed_events"

DEAD_LETTERS_UNPUBLISHED = "dead_letters_unpublished"
"""Dead letters the broker refused for good even without their body (the last resort, in the
service's own store): they are kept, logged at error level and counted, and consuming goes on."""


class Outcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(slots=True)
class _Work:
    """One record of a batch that has a handler: its envelope, and its marker's id (made once)."""

    index: int
    raw: bytes
    record: RecordInfo
    envelope: Envelope
    handler: Handler
    marker: str
    event_id: str


class IdempotentConsumer:
    def __init__(
        self,
        *,
        db: AsyncDatabase[Document],
        dead_letters: Publisher,
        service: str,
        group: str,
        handlers: Mapping[str, Handler],
        batch_handlers: Mapping[str, BatchHandler] | None = None,
        max_attempts: int = 3,
        backoff_s: float = 0.2,
        concurrency: int = 1,
        max_record_bytes: int = DEFAULT_EVENT_MAX_BYTES,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        sealer: Sealer | None = None,
        unmarked: Collection[str] = (),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.markers = db[PROCESSED]
        self.unpublished = db[DEAD_LETTERS_UNPUBLISHED]
        self.max_record_bytes = max_record_bytes
        self.dead_letters = dead_letters
        self.service = service
        self.group = group
        self.handlers = dict(handlers)
        self.batch_handlers = dict(batch_handlers or {})
        unpaired = sorted(set(self.batch_handlers) - set(self.handlers))
        if unpaired:
            raise ValueError(
                f"a batch handler needs a single-event handler as well (its fallback): {unpaired}"
            )
        self.unmarked = frozenset(unmarked)
        if self.unmarked - set(self.handlers):
            raise ValueError(f"unmarked event types without a handler: {sorted(self.unmarked)}")
        """Event types whose handlers' own insert is their processed marker (no marker kept)."""
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.concurrency = max(1, concurrency)
        self._sleep = sleep
        self.sealer = sealer
        """Unseals personal fields before a handler sees them (``crm_kit.sealing``)."""

    def _marker_id(self, event_id: str) -> str:
        return f"{self.group}:{event_id}"

    async def process(self, raw: bytes, record: RecordInfo) -> Outcome:
        return (await self.process_batch([(raw, record)]))[0]

    async def process_batch(self, items: Sequence[tuple[bytes, RecordInfo]]) -> list[Outcome]:
        """Process records polled together; the caller commits once this returned.

        Records with one Kafka key stay in order in one lane; up to ``concurrency`` lanes run at
        once. Markers are looked up with one ``_id $in`` query and written in one insert.

        Within a lane, consecutive new events of a type that has a batch handler go to it in one
        call. If that call fails, each of them goes through its single-event handler with the
        usual retries, so one bad event is dead-lettered alone and the rest are processed. A
        batch handler must be as idempotent as the single one: a crash after it and before the
        markers redelivers the whole run.
        """
        outcomes: list[Outcome] = [Outcome.IGNORED] * len(items)
        work: list[_Work] = []
        for index, (raw, record) in enumerate(items):
            if len(raw) > self.max_record_bytes:
                # Larger than any producer here writes: not parsed (nor kept whole).
                error = OversizedRecord(len(raw), self.max_record_bytes)
                await self._dead_letter(raw, record, error, attempts=0)
                outcomes[index] = Outcome.DEAD_LETTERED
                continue
            try:
                envelope = Envelope.from_bytes(raw)
            except Exception as exc:
                await self._dead_letter(raw, record, exc, attempts=0)
                outcomes[index] = Outcome.DEAD_LETTERED
                continue
            handler = self.handlers.get(envelope.event_type)
            if handler is not None:
                event_id = str(envelope.event_id)
                marker = self._marker_id(event_id)
                work.append(_Work(index, raw, record, envelope, handler, marker, event_id))
        if work:
            done = await self._markers_present(
                list({w.marker for w in work if w.envelope.event_type not in self.unmarked})
            )
            # The keys that open the new events' personal fields, with one vault read.
            keys = await self._keys_of([w.envelope for w in work if w.marker not in done])
            lanes: dict[bytes | None, list[_Work]] = {}
            for item in work:
                lanes.setdefault(item.record.key, []).append(item)
            fresh: list[Document] = []
            gate = asyncio.Semaphore(self.concurrency)

            async def run_lane(lane: list[_Work]) -> None:
                async with gate:
                    position = 0
                    while position < len(lane):
                        run = self._batch_run(lane, position, done)
                        if len(run) > 1 and await self._handle_run(
                            run, done, fresh, outcomes, keys
                        ):
                            position += len(run)
                            continue
                        item = lane[position]
                        outcomes[item.index] = await self._handle_one(item, done, fresh, keys)
                        position += 1

            await asyncio.gather(*(run_lane(lane) for lane in lanes.values()))
            if fresh:
                # A duplicate means another instance of the group got there first.
                with contextlib.suppress(BulkWriteError):
                    await self.markers.insert_many(fresh, ordered=False)
        for outcome, count in Counter(outcomes).items():
            EVENTS_CONSUMED.labels(self.service, self.group, outcome.value).inc(count)
        return outcomes

    def _batch_run(self, lane: Sequence[_Work], start: int, done: set[str]) -> list[_Work]:
        """The consecutive new events from ``start`` sharing a type that has a batch handler."""
        event_type = lane[start].envelope.event_type
        if event_type not in self.batch_handlers:
            return []
        run = []
        seen: set[str] = set()
        for item in lane[start:]:
            if item.envelope.event_type != event_type or item.marker in done or item.marker in seen:
                break
            seen.add(item.marker)
            run.append(item)
        return run

    async def _handle_run(
        self,
        run: Sequence[_Work],
        done: set[str],
        fresh: list[Document],
        outcomes: list[Outcome],
        keys: Keys,
    ) -> bool:
        """One batch handler call for ``run``; False (nothing recorded) if it failed."""
        event_type = run[0].envelope.event_type
        batch_handler = self.batch_handlers[event_type]
        shared = {item.envelope.correlation_id for item in run}
        token = correlation_id.set(shared.pop() if len(shared) == 1 else None)
        cause = causation_id.set(None)
        try:
            opened = [await self._unsealed(item.envelope, keys) for item in run]
            await batch_handler([(envelope.open(), envelope) for envelope in opened])
        except Exception:
            log.info(
                "batch handler for %d %s failed; handling them one by one",
                len(run),
                event_type,
                exc_info=True,
            )
            return False
        finally:
            causation_id.reset(cause)
            correlation_id.reset(token)
        at = datetime.now(UTC)
        for item in run:
            self._mark(item, done, fresh, at)
            outcomes[item.index] = Outcome.PROCESSED
        return True

    def _mark(self, item: _Work, done: set[str], fresh: list[Document], at: datetime) -> None:
        done.add(item.marker)
        if item.envelope.event_type in self.unmarked:
            return
        fresh.append(
            {
                "_id": item.marker,
                "group": self.group,
                "event_id": item.event_id,
                "event_type": item.envelope.event_type,
                "at": at,
            }
        )

    async def _markers_present(self, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` have a marker: one ``_id $in`` query per batch (none for none)."""
        if not ids:
            return set()
        found = self.markers.find({"_id": {"$in": list(ids)}}, {"_id": 1})
        return {d["_id"] async for d in found}

    async def _handle_one(
        self, item: _Work, done: set[str], fresh: list[Document], keys: Keys
    ) -> Outcome:
        if item.marker in done:
            return Outcome.DUPLICATE
        # The handler's log lines, the retries' and the dead letter's carry the event's
        # correlation id; the events it writes carry it too, caused by this event.
        token = correlation_id.set(item.envelope.correlation_id)
        cause = causation_id.set(item.event_id)
        try:
            error = await self._run_with_retries(item.handler, item.envelope, keys)
            if error is not None:
                await self._dead_letter(item.raw, item.record, error, attempts=self.max_attempts)
                return Outcome.DEAD_LETTERED
        finally:
            causation_id.reset(cause)
            correlation_id.reset(token)
        self._mark(item, done, fresh, datetime.now(UTC))
        return Outcome.PROCESSED

    async def _run_with_retries(
        self, handler: Handler, envelope: Envelope, keys: Keys
    ) -> Exception | None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                # Opening inside the loop: a payload that does not validate fails every attempt
                # and lands in the dead-letter topic with the validation error.
                opened = await self._unsealed(envelope, keys)
                await handler(opened.open(), opened)
                return None
            except Exception as exc:
                if attempt == self.max_attempts:
                    log.warning(
                        "handler for %s %s failed %d times; dead-lettering",
                        envelope.event_type,
                        envelope.event_id,
                        attempt,
                        exc_info=True,
                    )
                    return exc
                HANDLER_RETRIES.labels(self.service, self.group).inc()
                await self._sleep(self.backoff_s * 2 ** (attempt - 1))
        return None  # pragma: no cover - the loop always returns

    async def _unsealed(self, envelope: Envelope, keys: Keys) -> Envelope:
        """The envelope with its personal fields opened (read as erased where the person's
        key is gone), for a handler; the raw record stays sealed for the dead letters.
        ``keys``: the batch's keys read already (``_keys_of``)."""
        return envelope if self.sealer is None else await self.sealer.unseal(envelope, keys)

    async def _keys_of(self, envelopes: Sequence[Envelope]) -> Keys:
        return {} if self.sealer is None else await self.sealer.keys_of(envelopes)

    async def _dead_letter(
        self, raw: bytes, record: RecordInfo, error: BaseException, *, attempts: int
    ) -> None:
        """Publish the dead letter, awaited to the broker's acknowledgement (the offset moves
        on only once it is safe). A transient failure raises (the batch is rewound and tried
        again); a permanent refusal never does, or the batch would come back for ever: the
        letter goes again without its body, and if even that is refused it is kept in the
        store (``dead_letters_unpublished``)."""
        topic = dead_letter_topic(record.topic, self.group)
        letter = build_dead_letter(
            raw,
            record,
            error,
            group=self.group,
            attempts=attempts,
            body_max_bytes=self.max_record_bytes,
        )
        try:
            await self._send(topic, letter)
        except Exception as refused:
            if not is_permanent(refused):
                raise
            log.error(
                "the broker refused the dead letter of %s[%d]@%d (%r); sending it without its body",
                record.topic,
                record.partition,
                record.offset,
                refused,
            )
            letter = letter.without_body()
            try:
                await self._send(topic, letter)
            except Exception as again:
                if not is_permanent(again):
                    raise
                await self._keep_unpublished(topic, letter, again)
                return
        EVENTS_DEAD_LETTERED.labels(self.service, self.group, record.topic).inc()
        log.error(
            "dead-lettered %s[%d]@%d to %s%s: %s",
            record.topic,
            record.partition,
            record.offset,
            topic,
            " (body truncated)" if letter.truncated else "",
            letter.headers[DLQ_ERROR],
        )

    async def _send(self, topic: str, letter: DeadLetter) -> None:
        sent = await self.dead_letters.send(topic, letter.key, letter.value, letter.headers)
        await sent

    async def _keep_unpublished(self, topic: str, letter: DeadLetter, error: BaseException) -> None:
        await self.unpublished.insert_one(
            {
                "topic": topic,
                "key": Binary(letter.key),
                "value": Binary(letter.value),
                "headers": letter.headers,
                "error": repr(error)[:4000],
                "at": datetime.now(UTC),
            }
        )
        DEAD_LETTERS_KEPT.labels(self.service, self.group, topic).inc()
        log.error(
            "the broker refused the dead letter for %s even without its body (%r); kept in %s",
            topic,
            error,
            DEAD_LETTERS_UNPUBLISHED,
        )


def headers_of(raw_headers: Any) -> dict[str, str]:
    """Kafka headers (a sequence of (name, bytes)) as a dict of strings."""
    return {
        k: (v.decode(errors="replace") if isinstance(v, bytes) else str(v))
        for k, v in raw_headers or ()
    }
