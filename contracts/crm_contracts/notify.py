"""Facts published by the notify service on ``crm.notify.v1``.

Each notification is one delivery attempt series for one (source event, recipient, kind); its
outcome facts are keyed by the notification id. ``event_id`` and ``participant_id`` are echoed
from an ``InvitationRequested`` so that campaigns can move the participant along without a
lookup. An unsubscription (``UnsubscribeRequested``) is keyed by the person's client id, like
contacts' own facts about that client.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent
from crm_contracts.common import Recipient
from crm_contracts.topics import NOTIFY
from crm_contracts.values import (
    Channel,
    FailureKind,
    Id,
    NotificationKind,
    UnsubscribeMethod,
    UtcDatetime,
)


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


class UnsubscribeRequested(NotifyEvent):
    """A client's person asked, through the unsubscribe link of a message notify sent them,
    to receive nothing more on that message's channel.

    Notify stops using the channel for the person at once; contacts, which owns consent,
    consumes this and withdraws the channel's consent (a ``ConsentChanged`` with the source
    ``unsubscribe_link``), which campaigns and notify then follow. Re-sent for a repeated
    request: withdrawing a withdrawn consent changes nothing.
    """

    event_type: ClassVar[str] = "UnsubscribeRequested"
    client_id: Id
    person_id: Id
    channel: Channel
    """The channel of the message whose link was used."""
    requested_at: UtcDatetime
    method: UnsubscribeMethod = UnsubscribeMethod.ONE_CLICK
    notification_id: Id | None = None
    """The message whose link was used, when the link names it."""

    def aggregate_key(self) -> str:
        return self.client_id
