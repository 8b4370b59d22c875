"""HTTP request and response models of the notify API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_contracts.values import (
    Channel,
    FailureKind,
    Language,
    NotificationKind,
    RecipientKind,
)
from crm_kit.fields import Id
from pydantic import BaseModel, ConfigDict, Field, model_validator

from crm_notify.domain import Status


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: RecipientKind
    id: str = Field(min_length=1, max_length=320)
    """A person id, an employee id, or for kind ``address`` the address itself."""
    client_id: Id | None = None


class AdHocSend(BaseModel):
    """An internal application's ad-hoc message to one recipient."""

    model_config = ConfigDict(extra="forbid")

    recipient: RecipientIn
    channel: Channel | None = None
    """Required for a bare address; for a person or employee, a preference (consent still
    decides)."""
    subject: str = Field(min_length=1, max_length=300)
    body: str = Field(min_length=1, max_length=20_000)
    language: Language | None = None

    @model_validator(mode="after")
    def _address_needs_channel(self) -> AdHocSend:
        if self.recipient.kind is RecipientKind.ADDRESS and self.channel is None:
            raise ValueError("a bare address needs the channel it belongs to")
        return self


class RecipientOut(BaseModel):
    kind: RecipientKind
    id: str
    client_id: str | None = None


class NotificationOut(BaseModel):
    id: str
    kind: NotificationKind
    recipient: RecipientOut
    source_event_id: str
    source_event_type: str
    status: Status
    attempts: int
    channel: Channel | None = None
    address: str | None = None
    failure: FailureKind | None = None
    last_error: str | None = None
    event_id: str | None = None
    participant_id: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None

    hidden: list[str] = Field(
        default=[],
        description="Fields withheld from this caller as personal data: `address`, and "
        "`recipient.id` when the recipient is a bare address (shown as `hidden`), for roles "
        "outside `crm_kit.access.PERSONAL_DATA` (docs/authorization.md).",
    )

    @classmethod
    def of(cls, doc: dict[str, Any], *, personal: bool = True) -> NotificationOut:
        """``personal``: whether the caller sees personal fields (``sees_personal_data``)."""
        final = doc["status"] in (Status.DELIVERED.value, Status.FAILED.value)
        recipient = dict(doc["recipient"])
        address = doc.get("address")
        hidden: list[str] = []
        if not personal:
            if address:
                hidden.append("address")
                address = None
            if recipient.get("kind") == "address":
                hidden.append("recipient.id")
                recipient["id"] = "hidden"
        return cls(
            id=str(doc["_id"]),
            kind=doc["kind"],
            recipient=RecipientOut(**recipient),
            source_event_id=doc["source"]["event_id"],
            source_event_type=doc["source"]["event_type"],
            status=doc["status"],
            attempts=doc["attempts"],
            channel=doc.get("channel"),
            address=address,
            failure=doc.get("failure"),
            last_error=doc.get("last_error"),
            event_id=doc.get("event_id"),
            participant_id=doc.get("participant_id"),
            created_at=doc["created_at"],
            next_attempt_at=None if final else doc.get("next_attempt_at"),
            delivered_at=doc.get("delivered_at"),
            failed_at=doc.get("failed_at"),
            hidden=hidden,
        )


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; ``None`` on the last page."""


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(min_length=1, max_length=1000)
    text: str = Field(min_length=1, max_length=50_000)
    html: str | None = Field(default=None, max_length=100_000)
    """Optional; without it the HTML part is made from the text."""


class TemplateOut(BaseModel):
    kind: NotificationKind
    language: Language
    subject: str
    text: str
    html: str | None
    variables: list[str]
    """What this kind's templates may refer to."""
    customised: bool
    updated_at: datetime | None = None
    updated_by: str | None = None


class ChannelOut(BaseModel):
    channel: Channel
    configured: bool
    transport: str
    rate_per_s: float | None
    position: int | None
    """Place in the fallback order (0 = first), ``None`` if not in it."""
