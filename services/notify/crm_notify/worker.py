"""The delivery worker: claims due notifications, sends them, records the outcome.

A claim is one atomic ``find_one_and_update`` that takes a notification that is due (pending,
waiting for a retry, or left by a worker whose lease ran out) and leases it. The outcome and its
``NotificationDelivered`` / ``NotificationFailed`` fact are written in one update guarded by the
lease, so a worker that lost its lease cannot overwrite the one that took over. A crash after
the channel accepted and before the outcome was written sends the message again once the lease
runs out: delivery to the channel is at-least-once, the recorded outcome exactly-once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import jinja2
from crm_contracts.common import Recipient
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.values import Channel, FailureKind, Language, NotificationKind, RecipientKind
from crm_kit.clock import utc_now
from crm_kit.outbox import Document
from crm_kit.problems import Conflict, NotFound
from crm_kit.runtime import Runtime
from prometheus_client import Counter

from crm_notify import repository as repo
from crm_notify.channels import Attachment, Outgoing, Sender, build_senders
from crm_notify.domain import (
    DeliveryFailure,
    NoUsableChannel,
    Reachability,
    Status,
    TokenBucket,
    after_failure,
    choose_channel,
)
from crm_notify.handlers import settings_of
from crm_notify.ical import calendar_entry
from crm_notify.settings import NotifySettings
from crm_notify.templates import SHIPPED, Template, render

log = logging.getLogger(__name__)

OUTCOMES = Counter(
    "crm_notify_outcomes_total", "Delivery attempts by channel and outcome", ["channel", "outcome"]
)


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
        self.configured = [c for c in self.settings.configured_channels() if c in self.senders]
        self.buckets = {
            channel: TokenBucket(rate) for channel, rate in self.settings.rate_limits.items()
        }
        self.notifications = runtime.outbox(repo.NOTIFICATIONS, "notification")

    async def run(self) -> None:
        """One scanner finds due notifications a batch at a time; ``worker_concurrency``
        senders claim and send them. A batch is finished before the next scan, so nothing is
        queued twice and at most one batch of ids is held in memory."""
        batch_size = max(32, 4 * self.settings.worker_concurrency)
        queue: asyncio.Queue[tuple[str, int]] = asyncio.Queue(maxsize=batch_size)
        senders = [
            asyncio.create_task(self._send_loop(queue), name=f"notify-sender-{i}")
            for i in range(max(1, self.settings.worker_concurrency))
        ]
        try:
            while True:
                due = await repo.due_candidates(self.runtime.db, self.clock(), batch_size)
                if not due:
                    await self.sleep(self.settings.worker_poll_s)
                    continue
                for candidate in due:
                    await queue.put((str(candidate["_id"]), int(candidate["attempts"])))
                await queue.join()
        finally:
            for task in senders:
                task.cancel()
            await asyncio.gather(*senders, return_exceptions=True)

    async def _send_loop(self, queue: asyncio.Queue[tuple[str, int]]) -> None:
        while True:
            notification_id, attempts = await queue.get()
            try:
                await self.claim_and_deliver(notification_id, attempts)
            except Exception:
                # The claim's lease runs out and the notification becomes due again; one bad
                # notification must not stop the others.
                log.exception("delivering notification %s failed", notification_id)
            finally:
                queue.task_done()

    async def claim_and_deliver(self, notification_id: str, attempts: int) -> bool:
        """Claim the next attempt of a due notification and handle it; ``False`` when another
        worker had it."""
        token = uuid.uuid4().hex
        doc = await repo.claim(
            self.runtime.db,
            notification_id,
            attempts,
            self.clock(),
            timedelta(seconds=self.settings.lease_s),
            token,
        )
        if doc is None:
            return False
        try:
            await self.deliver(doc, token)
        except (Conflict, NotFound):
            log.warning("notification %s was taken over before its outcome was written", doc["_id"])
        return True

    async def _reachability(self, doc: Document) -> Reachability | None:
        recipient = doc["recipient"]
        if recipient["kind"] == RecipientKind.ADDRESS.value:
            channel = Channel(doc.get("address_channel") or Channel.EMAIL.value)
            return Reachability(
                kind=RecipientKind.ADDRESS,
                name=recipient["id"],
                language=Language(doc.get("language_hint") or self.settings.default_language),
                addresses={channel: recipient["id"]},
                preferred=channel,
            )
        key = repo.recipient_key(recipient["kind"], recipient["id"])
        return await repo.reachability(self.runtime.db, key)

    async def deliver(self, doc: Document, token: str) -> None:
        attempt = int(doc["attempts"])
        who = await self._reachability(doc)
        if who is None:
            await self._after_failure(
                doc, token, None, DeliveryFailure("the recipient is not known yet", transient=True)
            )
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
            await self._fail(doc, token, None, FailureKind.NO_USABLE_CHANNEL, exc.reason)
            return
        try:
            message = await self._compose(doc, who, channel)
        except (jinja2.TemplateError, KeyError, ValueError) as exc:
            await self._fail(doc, token, channel, FailureKind.TEMPLATE_ERROR, f"template: {exc}")
            return
        await self._pace(channel)
        try:
            await self.senders[channel].send(channel, message)
        except DeliveryFailure as failure:
            await self._after_failure(doc, token, channel, failure)
            return
        now = self.clock()
        OUTCOMES.labels(channel.value, "delivered").inc()
        await self.notifications.update(
            doc["_id"],
            {
                "$set": {
                    "status": Status.DELIVERED.value,
                    "channel": channel.value,
                    "address": message.to,
                    "delivered_at": now,
                    "lease": None,
                    "last_error": None,
                }
            },
            [
                NotificationDelivered(
                    **self._outcome_fields(doc, attempt), channel=channel, delivered_at=now
                )
            ],
            extra_filter={"lease": token},
        )

    async def _pace(self, channel: Channel) -> None:
        bucket = self.buckets.get(channel)
        if bucket is not None:
            wait = bucket.take()
            if wait > 0:
                await self.sleep(wait)

    async def _template(self, kind: NotificationKind, language: Language) -> Template:
        override = await repo.template_override(self.runtime.db, kind, language)
        if override is not None:
            return Template(override["subject"], override["text"], override.get("html"))
        return SHIPPED[(kind, language)]

    async def _compose(self, doc: Document, who: Reachability, channel: Channel) -> Outgoing:
        kind = NotificationKind(doc["kind"])
        language = who.language
        if who.kind is RecipientKind.ADDRESS and doc.get("language_hint"):
            language = Language(doc["language_hint"])
        template = await self._template(kind, language)
        rendered = render(template, {**doc["variables"], "recipient_name": who.name})
        address = who.addresses[channel]
        attachments: tuple[Attachment, ...] = ()
        calendar = doc.get("calendar")
        if calendar and channel is Channel.EMAIL:
            attachments = (
                calendar_entry(
                    method=calendar["method"],
                    uid=calendar["uid"],
                    sequence=int(calendar["sequence"]),
                    title=calendar["title"],
                    starts_at=calendar["starts_at"],
                    ends_at=calendar["ends_at"],
                    location=calendar["location"],
                    description=rendered.text,
                    url=calendar.get("url"),
                    attendee=address,
                    organizer=_bare_address(self.settings.mail_from),
                    stamp=self.clock(),
                ),
            )
        return Outgoing(
            to=address,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            reference=str(doc["_id"]),
            attachments=attachments,
        )

    async def _after_failure(
        self, doc: Document, token: str, channel: Channel | None, failure: DeliveryFailure
    ) -> None:
        outcome = after_failure(failure, int(doc["attempts"]), self.policy, self.clock())
        label = channel.value if channel else "none"
        if outcome.status is Status.RETRY:
            OUTCOMES.labels(label, "retry").inc()
            assert outcome.retry_at is not None
            await self.notifications.update(
                doc["_id"],
                {
                    "$set": {
                        "status": Status.RETRY.value,
                        "next_attempt_at": outcome.retry_at,
                        "channel": channel.value if channel else None,
                        "last_error": failure.reason,
                        "lease": None,
                    }
                },
                extra_filter={"lease": token},
            )
            return
        assert outcome.failure is not None
        await self._fail(doc, token, channel, outcome.failure, failure.reason)

    async def _fail(
        self,
        doc: Document,
        token: str,
        channel: Channel | None,
        failure: FailureKind,
        reason: str,
    ) -> None:
        now = self.clock()
        OUTCOMES.labels(channel.value if channel else "none", failure.value).inc()
        await self.notifications.update(
            doc["_id"],
            {
                "$set": {
                    "status": Status.FAILED.value,
                    "channel": channel.value if channel else None,
                    "failure": failure.value,
                    "last_error": reason,
                    "failed_at": now,
                    "lease": None,
                }
            },
            [
                NotificationFailed(
                    **self._outcome_fields(doc, int(doc["attempts"])),
                    channel=channel,
                    failure=failure,
                    reason=reason,
                    failed_at=now,
                )
            ],
            extra_filter={"lease": token},
        )

    @staticmethod
    def _outcome_fields(doc: Document, attempts: int) -> dict[str, Any]:
        recipient = doc["recipient"]
        return {
            "notification_id": str(doc["_id"]),
            "source_event_id": doc["source"]["event_id"],
            "source_event_type": doc["source"]["event_type"],
            "recipient": Recipient(
                kind=RecipientKind(recipient["kind"]),
                id=recipient["id"],
                client_id=recipient.get("client_id"),
            ),
            "kind": NotificationKind(doc["kind"]),
            "attempts": attempts,
            "event_id": doc.get("event_id"),
            "participant_id": doc.get("participant_id"),
        }


def _bare_address(mail_from: str) -> str:
    from email.utils import parseaddr

    return parseaddr(mail_from)[1] or "crm@localhost"


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
