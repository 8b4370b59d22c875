"""The envelope every Kafka message is: identity, type, time, origin, key and the payload."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Required, TypedDict, TypeVar, Unpack
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field

from crm_contracts.base import ContractEvent
from crm_contracts.registry import UnknownEventType, event_class
from crm_contracts.values import UtcDatetime

__all__ = ["Actor", "Envelope", "EventTypeMismatch", "UnknownEventType"]

E = TypeVar("E", bound=ContractEvent)


_EMPTY_PAYLOAD_END = b"{}}"


class EventTypeMismatch(TypeError):
    """``open_as`` was asked for a class other than the envelope's event type."""


class Actor(BaseModel):
    """Who made the change an event records: the app that called and the employee it acted
    for (docs/authorization.md). Absent from events no caller made (a consumer's reaction,
    a scheduled job)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    app: str = Field(min_length=1, max_length=200)
    """The calling app: the provider's client id, or a development token's subject."""
    employee_id: str | None = Field(default=None, max_length=64)
    """The employee of contacts the caller is; None for an app on its own account."""


class WrapOptions(TypedDict, total=False):
    """What a producer says of an event it wraps, besides the event itself."""

    producer: Required[str]
    key: str | None
    """The Kafka key; ``event.aggregate_key()`` when not given."""
    correlation_id: str | None
    causation_id: str | None
    event_id: UUID | None
    """A fresh UUID when not given."""
    occurred_at: datetime | None
    """Now when not given."""
    actor: Actor | None


class Envelope(BaseModel):
    """One message on a service topic. Strict: an unknown envelope field is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    event_id: UUID
    """Unique per message; consumers deduplicate on it."""
    event_type: str = Field(min_length=1)
    """The contract's ``event_type``, e.g. ``ClientRegistered``."""
    schema_version: int = Field(ge=1)
    """The contract's schema version when the producer wrote it."""
    occurred_at: UtcDatetime
    """When the fact happened (not when it was sent), in UTC."""
    producer: str = Field(min_length=1)
    """The producing service, e.g. ``contacts``."""
    key: str = Field(min_length=1)
    """The aggregate id, also used as the Kafka message key."""
    correlation_id: str | None = None
    """Shared by every message of one business flow (usually the originating request id)."""
    causation_id: str | None = None
    """The ``event_id`` of the message that caused this one, if any."""
    actor: Actor | None = None
    """Who made the change, when a caller of the producer's API made it."""
    payload: dict[str, Any]

    @classmethod
    def wrap(cls, event: ContractEvent, **options: Unpack[WrapOptions]) -> Envelope:
        """Put ``event`` in an envelope; ``key`` defaults to ``event.aggregate_key()``."""
        return cls._around(event, event.model_dump(mode="json"), **options)

    @classmethod
    def wrap_to_bytes(
        cls, event: ContractEvent, **options: Unpack[WrapOptions]
    ) -> tuple[Envelope, bytes]:
        """:meth:`wrap` and :meth:`to_bytes` in one, for a producer: the envelope's fields,
        validated as :meth:`wrap`'s (its ``payload`` left empty), and the record's value, byte
        for byte what ``wrap(...).to_bytes()`` gives. The event is written once, by its own
        model's serializer, instead of being turned into a dict that is then written again."""
        head = cls._around(event, {}, **options)
        return head, head.to_bytes_with(event)

    @classmethod
    def _around(
        cls,
        event: ContractEvent,
        payload: dict[str, Any],
        *,
        producer: str,
        key: str | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        event_id: UUID | None = None,
        occurred_at: datetime | None = None,
        actor: Actor | None = None,
    ) -> Envelope:
        return cls(
            event_id=event_id or uuid4(),
            event_type=event.event_type,
            schema_version=event.schema_version,
            occurred_at=occurred_at or datetime.now(UTC),
            producer=producer,
            key=key if key is not None else event.aggregate_key(),
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=actor,
            payload=payload,
        )

    def to_bytes_with(self, event: ContractEvent) -> bytes:
        """This envelope's bytes with ``event`` as its payload (whatever ``payload`` holds):
        ``payload`` is the last field, so the JSON of the envelope with an empty one ends in
        ``{}}``, and the event's JSON takes the place of that ``{}``."""
        empty = self.model_copy(update={"payload": {}}) if self.payload else self
        head = self.__pydantic_serializer__.to_json(empty)
        return b"".join(
            (head[: -len(_EMPTY_PAYLOAD_END)], event.__pydantic_serializer__.to_json(event), b"}")
        )

    def to_bytes(self) -> bytes:
        """The envelope as UTF-8 JSON, the Kafka message value."""
        return self.__pydantic_serializer__.to_json(self)

    @classmethod
    def from_bytes(cls, raw: bytes | str) -> Envelope:
        """Parse a Kafka message value; raises ``pydantic.ValidationError`` if malformed."""
        return cls.model_validate_json(raw)

    def open(self) -> ContractEvent:
        """The payload as its contract class.

        Raises ``UnknownEventType`` if no class is registered for ``event_type`` and
        ``pydantic.ValidationError`` if the payload does not satisfy the contract. Fields added
        by a newer producer are ignored.
        """
        return event_class(self.event_type).model_validate(self.payload)

    def open_as(self, cls: type[E]) -> E:
        """The payload as ``cls``, for a consumer that knows what it subscribed to."""
        if cls.event_type != self.event_type:
            raise EventTypeMismatch(f"envelope holds {self.event_type}, not {cls.event_type}")
        return cls.model_validate(self.payload)
