"""The catalogue of event types: ``event_type`` string → contract class.

Classes register themselves when they are defined (see ``ContractEvent``); importing
``crm_contracts`` imports every service module, so the catalogue is complete whenever this
module is usable. A second class claiming an ``event_type`` already taken fails at import time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_contracts.topics import TOPICS

if TYPE_CHECKING:
    from crm_contracts.base import ContractEvent

EVENT_TYPES: dict[str, type[ContractEvent]] = {}


class DuplicateEventType(TypeError):
    """Two contract classes claim the same ``event_type``."""


class InvalidContract(TypeError):
    """A contract class lacks what every event needs (topic, version)."""


class UnknownEventType(LookupError):
    """No contract class is registered for an ``event_type`` read from the wire."""

    def __init__(self, event_type: str) -> None:
        super().__init__(f"unknown event type {event_type!r}: no contract class is registered")
        self.event_type = event_type


def register(cls: type[ContractEvent]) -> type[ContractEvent]:
    """Add ``cls`` to the catalogue; refuse a duplicate or an incomplete class."""
    name = cls.__dict__.get("event_type")
    if not isinstance(name, str) or not name:
        raise InvalidContract(f"{cls.__qualname__} must set event_type to a non-empty string")
    topic = getattr(cls, "topic", None)
    if topic not in TOPICS:
        raise InvalidContract(f"{name}: topic {topic!r} is not one of {TOPICS}")
    if not isinstance(cls.schema_version, int) or cls.schema_version < 1:
        raise InvalidContract(f"{name}: schema_version must be a positive integer")
    existing = EVENT_TYPES.get(name)
    if existing is not None and existing is not cls:
        raise DuplicateEventType(
            f"event type {name!r} is claimed by both {existing.__module__}."
            f"{existing.__qualname__} and {cls.__module__}.{cls.__qualname__}"
        )
    EVENT_TYPES[name] = cls
    return cls


def event_class(event_type: str) -> type[ContractEvent]:
    """The contract class for ``event_type``; ``UnknownEventType`` if there is none."""
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventType(event_type) from None


def events_of_topic(topic: str) -> list[type[ContractEvent]]:
    """The contract classes published on ``topic``, sorted by event type."""
    return sorted(
        (cls for cls in EVENT_TYPES.values() if cls.topic == topic),
        key=lambda cls: cls.event_type,
    )
