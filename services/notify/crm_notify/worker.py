"""The delivery worker: claims due notifications a batch at a time, sends them, records the
outcomes.

A batch is read from the notifications' due index in two lanes (never-tried notifications
first, retries with a reserved share: ``repository.delivery.due_notifications``), claimed with
one bulk update of attempt-guarded statements under the batch's lease token, and sent with
bounded concurrency (per process and per channel); composing each message is ``messages``'.
Each outcome is one update guarded by the lease, written with its ``NotificationDelivered`` /
``NotificationFailed`` fact in one transaction per flush while the batch runs, so a worker
that lost its lease cannot overwrite the one that took over. A crash after the channel
accepted and before the outcome was written sends the message again once the lease runs out
(at most the batch's unwritten outcomes): delivery to the channel is at-least-once, the
recorded outcome exactly-once. A batch's last outcomes commit while the next batch is claimed
and read, and the next batch is sent only once they are written: at most one batch is ever sent
and not recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.values import Channel, FailureKind, RecipientKind
from crm_kit.clock import utc_now
from crm_kit.logs import correlation_id
from crm_kit.outbox import VERSION, Document
from crm_kit.runtime import Runtime
from prometheus_client import Counter
from pymongo import UpdateOne

from crm_notify import messages
from crm_notify.channels import Sender, build_senders
from crm_notify.domain import (
    AD_HOC_SOURCE,
    DeliveryFailure,
    NoUsableChannel,
    Outcome,
    Reachability,
    Status,
    TokenBucket,
    after_failure,
    after_unknown_recipient,
    choose_channel,
)
from crm_notify.handlers import settings_of
from crm_notify.links import UnsubscribeLinks
from crm_notify.repository import delivery, recipient_key
from crm_notify.repository.notifications import SETTLED_AT, status_change
from crm_notify.repository.recipients import reachabilities
from crm_notify.repository.templates import template_overrides
from crm_notify.settings import NotifySettings

log = logging.getLogger(__name__)

OUTCOMES = Counter(
    "crm_notify_outcomes_total", "Delivery attempts by channel and outcome", ["channel", "outcome"]
)

FLUSH_EVERY_S = 0.5
"""How often a running batch writes the outcomes gathered so far."""


@dataclass
class _Batch:
    """The notifications one worker holds under one lease token."""

    token: str
    lease_until: datetime
    held: set[str]
    settled: set[str] = field(default_factory=set)
    outcomes: list[tuple[str, UpdateOne, list[Document]]] = field(default_factory=list)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class DeliveryWorker:
    def __init__(
        self,
        runtime: Runtime,
        senders: Mapping[Channel, Sender],
        *,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.runtime = runtime
        self.settings: NotifySettings = settings_of(runtime)
        self.senders = dict(senders)
        self.clock = clock
        self.sleep = sleep
        self.policy = self.settings.retry_policy()
        self.unknown_policy = self.settings.unknown_recipient_policy()
        self.configured = [c for c in self.settings.configured_channels() if c in self.senders]
        self.buckets = {
            channel: TokenBucket(rate) for channel, rate in self.settings.rate_limits.items()
        }
        self.lease = timedelta(seconds=self.settings.lease_s)
        self.batch_size = max(1, self.settings.worker_batch_size)
        self.prefetch = max(1, self.settings.worker_prefetch_batches)
        self.links = UnsubscribeLinks(self.settings.link_secret, self.settings.public_base_url)
        self._settling: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Batch after batch while there is work; a pause of ``worker_poll_s`` when there is
        none. At most ``worker_prefetch_batches`` batches of candidates are in memory at once,
        and the backlog stays in the store. The last batch's outcomes may still be committing
        while the next due query runs."""
        try:
            while True:
                if not await self._take():
                    await self._settled()
                    await self.sleep(self.settings.worker_poll_s)
        finally:
            await self._settled()

    async def run_once(self) -> int:
        """Read up to ``worker_prefetch_batches`` batches of due notifications with one due
        query, then claim and handle them one batch after the other (after the first batch,
        only while they are never-tried ones); returns how many were taken, once their
        outcomes are written. Each claim is decided against the store at its own time: a
        candidate another worker took, or that changed, since it was read loses its claim."""
        try:
            return await self._take()
        finally:
            await self._settled()

    async def _take(self) -> int:
        db = self.runtime.db
        due = await delivery.due_notifications(
            db, self.clock(), self.batch_size * self.prefetch, batch=self.batch_size
        )
        taken = 0
        for start in range(0, len(due), self.batch_size):
            candidates = due[start : start + self.batch_size]
            if start and any(int(d["attempts"]) > 0 for d in candidates):
                # Only never-tried work is taken ahead: a retry waits for a fresh due query,
                # so new notifications that arrived meanwhile are not stuck behind retries.
                break
            now = self.clock()
            token = uuid.uuid4().hex
            docs = await delivery.claim_batch(db, candidates, now, self.lease, token)
            if docs:
                await self.deliver_batch(docs, token, now + self.lease)
            taken += len(docs)
        return taken

    async def deliver_batch(
        self, docs: Sequence[Document], token: str, lease_until: datetime
    ) -> None:
        """Send a claimed batch once the previous batch's outcomes are written, and leave the
        last of its own outcomes to commit in a task of their own, awaited before the next
        batch is sent (or by ``_settled``)."""
        db = self.runtime.db
        keys = [
            recipient_key(d["recipient"]["kind"], d["recipient"]["id"])
            for d in docs
            if d["recipient"]["kind"] != RecipientKind.ADDRESS.value
        ]
        known = await reachabilities(db, keys)
        overrides = await template_overrides(db)
        await self._settled()
        batch = _Batch(token=token, lease_until=lease_until, held={str(d["_id"]) for d in docs})
        gate = asyncio.Semaphore(max(1, self.settings.worker_concurrency))
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_while_running(batch, done))

        async def one(doc: Document) -> None:
            # The log lines of this delivery carry the request's correlation id.
            correlation_id.set(doc.get("correlation_id"))
            async with gate:
                try:
                    await self.deliver(batch, doc, known, overrides)
                except Exception:
                    # The lease runs out and the notification becomes due again; one bad
                    # notification must not stop the others.
                    log.exception("delivering notification %s failed", doc["_id"])

        try:
            await asyncio.gather(*(one(doc) for doc in docs))
        finally:
            done.set()
            self._settling = asyncio.create_task(self._finish(batch, flusher))

    async def _finish(self, batch: _Batch, flusher: asyncio.Task[None]) -> None:
        await flusher
        await self._flush(batch, tries=3)

    async def _settled(self) -> None:
        """Wait until the last batch's outcomes are written, or given up on (their leases run
        out and they are sent again). A waiter cancelled meanwhile leaves the write going and
        still pending, for the next waiter."""
        settling = self._settling
        if settling is None:
            return
        try:
            await asyncio.shield(settling)
        except asyncio.CancelledError:
            if not settling.cancelled():
                raise  # the waiter was cancelled; the write goes on
        except Exception:
            log.exception("writing a batch's outcomes failed")
        if self._settling is settling:
            self._settling = None

    async def deliver(
        self,
        batch: _Batch,
        doc: Document,
        known: Mapping[str, Reachability],
        overrides: Mapping[str, Document],
    ) -> None:
        attempt = int(doc["attempts"])
        recipient = doc["recipient"]
        key = recipient_key(recipient["kind"], recipient["id"])
        who = messages.address_reachability(doc, self.settings.default_language) or known.get(key)
        if who is None:
            outcome, reason = after_unknown_recipient(
                key, attempt, self.unknown_policy, self.clock()
            )
            self._settle(batch, doc, None, outcome, reason, "unknown_recipient")
            return
        try:
            channel = choose_channel(
                who,
                configured=self.configured,
                hints=[Channel(c) for c in doc.get("channel_hints") or ()],
                requested_preference=Channel(doc["preferred_hint"])
                if doc.get("preferred_hint")
                else None,
            )
        except NoUsableChannel as exc:
            failed = Outcome(Status.FAILED, FailureKind.NO_USABLE_CHANNEL)
            self._settle(batch, doc, None, failed, exc.reason)
            return
        try:
            message = messages.compose(
                doc,
                who,
                channel,
                overrides,
                mail_from=self.settings.mail_from,
                now=self.clock(),
                links=self.links,
            )
        except Exception as exc:
            # Composing is pure (the template, the values, the calendar entry): what fails
            # now fails on every attempt, so it is this notification's permanent failure,
            # recorded and visible, never a retry (templates.RenderFailed, an overflow...).
            failed = Outcome(Status.FAILED, FailureKind.TEMPLATE_ERROR)
            reason = f"template: {type(exc).__name__}: {exc}"[:500]
            self._settle(batch, doc, channel, failed, reason)
            return
        await self._pace(channel)
        if not await self._still_held(batch, str(doc["_id"])):
            log.warning("notification %s was taken over before it was sent", doc["_id"])
            return
        try:
            await self.senders[channel].send(channel, message)
        except DeliveryFailure as failure:
            outcome = after_failure(failure, attempt, self.policy, self.clock())
            self._settle(batch, doc, channel, outcome, failure.reason)
            return
        now = self.clock()
        OUTCOMES.labels(channel.value, "delivered").inc()
        event = NotificationDelivered(
            **messages.outcome_fields(doc, attempt), channel=channel, delivered_at=now
        )
        changes = {
            **status_change(Status.DELIVERED),
            "channel": channel.value,
            "address": message.to,
            "delivered_at": now,
            SETTLED_AT: now,
            "lease": None,
            "last_error": None,
        }
        self._record(batch, doc, changes, [event])

    def _settle(
        self,
        batch: _Batch,
        doc: Document,
        channel: Channel | None,
        outcome: Outcome,
        reason: str,
        retry_label: str = "retry",
    ) -> None:
        """Record a retry or a failure of this attempt."""
        label = channel.value if channel else "none"
        if outcome.status is Status.RETRY:
            OUTCOMES.labels(label, retry_label).inc()
            changes = {
                **status_change(Status.RETRY),
                "next_attempt_at": outcome.retry_at,
                "channel": channel.value if channel else None,
                "last_error": reason,
                "lease": None,
            }
            self._record(batch, doc, changes, [])
            return
        assert outcome.failure is not None
        now = self.clock()
        OUTCOMES.labels(label, outcome.failure.value).inc()
        event = NotificationFailed(
            **messages.outcome_fields(doc, int(doc["attempts"])),
            channel=channel,
            failure=outcome.failure,
            reason=reason,
            failed_at=now,
        )
        changes = {
            **status_change(Status.FAILED),
            "channel": channel.value if channel else None,
            "failure": outcome.failure.value,
            "last_error": reason,
            "failed_at": now,
            SETTLED_AT: now,
            "lease": None,
        }
        self._record(batch, doc, changes, [event])

    def _record(
        self,
        batch: _Batch,
        doc: Document,
        changes: Mapping[str, Any],
        events: Sequence[ContractEvent],
    ) -> None:
        """Queue the outcome for the batch's next bulk write, guarded by the lease."""
        update: dict[str, Any] = {"$set": dict(changes), "$inc": {VERSION: 1}}
        # The outcome carries the request's correlation id and is caused by the request event
        # (an ad-hoc message, asked for over HTTP, has no causing event).
        source = doc.get("source") or {}
        cause = source.get("event_id") if source.get("event_type") != AD_HOC_SOURCE else None
        entries = self.runtime.events.entries(
            events, cause, correlation_id=doc.get("correlation_id")
        )
        op = UpdateOne({"_id": doc["_id"], "lease": batch.token}, update)
        batch.outcomes.append((str(doc["_id"]), op, entries))

    async def _flush_while_running(self, batch: _Batch, done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=FLUSH_EVERY_S)
            if not done.is_set():
                await self._flush(batch, tries=1)

    async def _flush(self, batch: _Batch, *, tries: int) -> None:
        """Write the outcomes gathered so far with their events, in one transaction."""
        async with batch.lock:
            pending, batch.outcomes = batch.outcomes, []
            if not pending:
                return
            for attempt in range(1, tries + 1):
                try:
                    held = await delivery.settle(self.runtime, batch.token, pending)
                    break
                except Exception:
                    if attempt == tries:
                        # Their leases run out and they are tried again.
                        log.exception("could not record %d delivery outcomes", len(pending))
                        batch.outcomes[:0] = pending if tries == 1 else []
                        return
                    await self.sleep(1.0)
            batch.settled.update(nid for nid, _, _ in pending)
            if len(held) < len(pending):
                log.warning(
                    "%d of %d notifications were taken over before their outcome was written",
                    len(pending) - len(held),
                    len(pending),
                )

    async def _still_held(self, batch: _Batch, notification_id: str) -> bool:
        """Whether the batch still holds the notification, renewing the batch's leases when
        less than half of the lease is left (a rate limit can hold a batch up)."""
        if self.clock() + self.lease / 2 >= batch.lease_until:
            async with batch.lock:
                if self.clock() + self.lease / 2 >= batch.lease_until:
                    until = self.clock() + self.lease
                    open_ids = sorted(batch.held - batch.settled)
                    kept = await delivery.renew_leases(
                        self.runtime.db, open_ids, batch.token, until
                    )
                    batch.held = kept | batch.settled
                    batch.lease_until = until
        return notification_id in batch.held

    async def _pace(self, channel: Channel) -> None:
        bucket = self.buckets.get(channel)
        if bucket is not None:
            wait = bucket.take()
            if wait > 0:
                await self.sleep(wait)


async def run_delivery(runtime: Runtime) -> None:
    """The background worker the app starts: the channel transports live as long as it does."""
    senders = build_senders(settings_of(runtime))
    try:
        await DeliveryWorker(runtime, senders).run()
    finally:
        closing = {id(s): s for s in senders.values()}
        for sender in closing.values():
            with contextlib.suppress(Exception):
                await sender.close()
