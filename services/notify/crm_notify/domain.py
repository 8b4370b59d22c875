"""The rules of delivery: who may be reached on which channel, when to retry, how fast to send.

Pure Python: no store, broker or network here.
"""

from __future__ import annotations

import enum
import hashlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crm_contracts.values import Channel, FailureKind, Language, NotificationKind, RecipientKind

NOTIFICATION_NAMESPACE = uuid.UUID("5b0f7c61-3f7e-4f53-9d43-6a0d1f6a2c11")
AD_HOC_SOURCE = "AdHocSend"
"""The source type of a message asked for over HTTP rather than by an event."""


class NotifyError(Exception):
    """Base of the notify service's domain errors."""


class UnknownTemplateVariable(NotifyError):
    """A template refers to a variable its kind does not provide."""

    def __init__(self, variable: str, kind: NotificationKind, part: str) -> None:
        super().__init__(
            f"the {part} template refers to '{variable}', which a {kind.value} notification "
            "does not provide"
        )
        self.variable = variable
        self.field = f"body.{part}"


class InvalidTemplate(NotifyError):
    """A template does not parse."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(f"the {part} template does not parse: {message}")
        self.field = f"body.{part}"


class TemplateTooCostly(InvalidTemplate):
    """A template's trial rendering went past the render bounds (time, steps, output)."""

    def __init__(self, part: str, message: str) -> None:
        NotifyError.__init__(self, f"the {part} template renders past the bounds: {message}")
        self.field = f"body.{part}"


class IdempotencyKeyReused(NotifyError):
    """The same Idempotency-Key was sent with a different request."""


class Status(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    RETRY = "retry"
    DELIVERED = "delivered"
    FAILED = "failed"


class DeliveryFailure(Exception):
    """A channel could not deliver; ``transient`` decides between retrying and giving up."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class NoUsableChannel(NotifyError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# What each kind's templates may refer to. ``recipient_name`` is filled at send time.
KIND_VARIABLES: Mapping[NotificationKind, frozenset[str]] = {
    NotificationKind.INVITATION: frozenset(
        {
            "recipient_name",
            "event_title",
            "event_kind",
            "event_topic",
            "place",
            "starts_at",
            "ends_at",
            "timezone",
            "answer_url",
            "check_in_code",
            "role",
        }
    ),
    NotificationKind.STAFF_NOTICE: frozenset({"recipient_name", "subject", "body"}),
    NotificationKind.AD_HOC: frozenset({"recipient_name", "subject", "body"}),
    NotificationKind.TASK_ASSIGNED: frozenset(
        {"recipient_name", "event_title", "task_title", "category", "due_on"}
    ),
    NotificationKind.TASK_CANCELLED: frozenset(
        {"recipient_name", "event_title", "task_title", "reason"}
    ),
    NotificationKind.PLAN_STEP_ASSIGNED: frozenset(
        {"recipient_name", "step_title", "proposal_title", "client_name", "due_on", "approval"}
    ),
    NotificationKind.CURATOR_ASSIGNED: frozenset({"recipient_name", "client_name"}),
    NotificationKind.EVENT_RESCHEDULED: frozenset(
        {
            "recipient_name",
            "event_title",
            "place",
            "previous_starts_at",
            "starts_at",
            "ends_at",
            "timezone",
            "reason",
        }
    ),
    NotificationKind.EVENT_CANCELLED: frozenset(
        {"recipient_name", "event_title", "starts_at", "reason"}
    ),
}


def notification_id(source_event_id: str, recipient_kind: str, recipient_id: str, kind: str) -> str:
    """The same (source event, recipient, kind) always names the same notification."""
    return str(
        uuid.uuid5(
            NOTIFICATION_NAMESPACE, f"{source_event_id}|{recipient_kind}:{recipient_id}|{kind}"
        )
    )


def request_fingerprint(parts: Iterable[str]) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


@dataclass(frozen=True)
class Reachability:
    """What notify knows of a recipient at send time: addresses, preference, consent."""

    kind: RecipientKind
    name: str
    language: Language
    addresses: Mapping[Channel, str]
    preferred: Channel | None = None
    consents: Mapping[Channel, bool] = field(default_factory=dict)
    active: bool = True
    client_id: str | None = None
    """The client a person belongs to (``None`` for employees and bare addresses)."""

    def may_use(self, channel: Channel) -> bool:
        """Consent rules: a client's person is reached only on a channel they agreed to (no
        record means no); employees get work notices on any channel they have; a bare address
        was given by the caller for this message."""
        if self.kind is RecipientKind.PERSON:
            return self.consents.get(channel, False)
        return True


def choose_channel(
    who: Reachability,
    *,
    configured: Sequence[Channel],
    hints: Sequence[Channel] = (),
    requested_preference: Channel | None = None,
) -> Channel:
    """The preferred channel if usable, else the next usable one in the configured order.

    Usable = the service has the channel configured, the recipient has an address for it and
    may be contacted on it now. Raises :class:`NoUsableChannel` saying why none is.
    """
    if not who.active:
        raise NoUsableChannel(f"{who.kind.value} is no longer active")
    candidates: list[Channel] = []
    for channel in (who.preferred, requested_preference, *hints, *configured):
        if channel is not None and channel not in candidates:
            candidates.append(channel)
    reasons: list[str] = []
    for channel in candidates:
        if channel not in configured:
            reasons.append(f"{channel.value}: not configured")
        elif not who.addresses.get(channel):
            reasons.append(f"{channel.value}: no address")
        elif not who.may_use(channel):
            reasons.append(f"{channel.value}: no consent")
        else:
            return channel
    raise NoUsableChannel("no usable channel (" + "; ".join(reasons) + ")")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off: ``base * factor**(attempt-1)``, capped, up to ``max_attempts``."""

    max_attempts: int = 6
    base_s: float = 30.0
    factor: float = 2.0
    cap_s: float = 3600.0

    def delay_after(self, attempt: int) -> timedelta | None:
        """How long to wait after failed attempt number ``attempt`` (1-based); ``None`` when
        the budget is spent."""
        if attempt >= self.max_attempts:
            return None
        return timedelta(seconds=min(self.cap_s, self.base_s * self.factor ** (attempt - 1)))


@dataclass(frozen=True)
class Outcome:
    status: Status
    failure: FailureKind | None = None
    retry_at: datetime | None = None


def after_failure(
    failure: DeliveryFailure, attempt: int, policy: RetryPolicy, now: datetime
) -> Outcome:
    """Permanent failures are final at once; transient ones retry until the budget is spent."""
    if not failure.transient:
        return Outcome(Status.FAILED, FailureKind.PERMANENT)
    delay = policy.delay_after(attempt)
    if delay is None:
        return Outcome(Status.FAILED, FailureKind.RETRIES_EXHAUSTED)
    return Outcome(Status.RETRY, retry_at=now + delay)


def after_unknown_recipient(
    who: str, attempt: int, policy: RetryPolicy, now: datetime
) -> tuple[Outcome, str]:
    """A recipient the projection does not know: wait for it with a growing back-off (its
    registration may still be on its way), then fail with a reason that says so."""
    delay = policy.delay_after(attempt)
    if delay is None:
        return Outcome(Status.FAILED, FailureKind.RETRIES_EXHAUSTED), (
            f"unknown recipient: {who} is not known to notify (no registration of it was "
            f"received) after {attempt} attempts"
        )
    return Outcome(Status.RETRY, retry_at=now + delay), f"unknown recipient: {who} is not known yet"


class TokenBucket:
    """A per-channel rate limit: ``rate`` tokens a second, at most ``burst`` saved up."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def take(self) -> float:
        """Take one token; returns how many seconds the caller must wait before using it."""
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate
