"""Facts published by the notify service on ``crm.notify.v1``, keyed by the notification id.

Each notification is one delivery attempt series for one (source event, recipient, kind).
``event_id`` and ``participant_id`` are echoed from an ``InvitationRequested`` so that
campaigns can move the participant along without a lookup.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent
from crm_contracts.common import Recipient
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Channel, FailureKind, Id, NotificationKind, UtcDatetime


class NotifyEvent(ContractEvent):
    """Base of the notify service's events."""

    topic: ClassVar[str] = NOTIFY


class _NotificationOutcome(NotifyEvent):
    notification_id: Id
    source_event_id: str
    """The envelope ``event_id`` of the fact that asked for this notification."""
    source_event_type: str
    recipient: Recipient
    kind: NotificationKind
    attempts: int = Field(ge=0)
    event_id: Id | None = None
    """The marketing event, for invitations and event notices."""
    participant_id: Id | None = None
    """The event participant, for invitations."""

    def aggregate_key(self) -> str:
        return self.notification_id


class NotificationDelivered(_NotificationOutcome):
    """A notification was accepted by the channel's server or gateway.

    Consumed by campaigns (participant invited → delivered) and contacts' timeline.
    """

    event_type: ClassVar[str] = "NotificationDelivered"
    channel: Channel
    delivered_at: UtcDatetime


class NotificationFailed(_NotificationOutcome):
    """A notification could not be delivered: no usable channel, a permanent rejection, or
    transient failures until the retry limit.

    Consumed by campaigns (participant invited → failed) and contacts' timeline.
    """

    event_type: ClassVar[str] = "NotificationFailed"
    channel: Channel | None = None
    """The last channel tried; ``None`` when no channel was usable."""
    failure: FailureKind
    reason: str
    """A human-readable reason, e.g. the SMTP reply."""
    failed_at: UtcDatetime
