"""The transactional outbox: a state change and its events in one atomic document update.

Pending events live in the changed document's ``outbox`` array. Each element is
``{"id", "topic", "key", "value"}`` where ``value`` is the envelope as a JSON string: a string
keeps arbitrary payload keys (dots, dollars) away from the store's field-name rules, and is
published byte for byte. The relay (``relay.py``) publishes and then pulls exactly those elements.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.envelope import Envelope
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from crm_kit.logs import current_correlation_id
from crm_kit.problems import Conflict, NotFound, VersionConflict

Document = dict[str, Any]
OUTBOX = "outbox"
VERSION = "version"


def outbox_entry(
    event: ContractEvent,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Document:
    envelope = Envelope.wrap(
        event,
        producer=producer,
        key=event.aggregate_key(),
        correlation_id=correlation_id or current_correlation_id(),
        causation_id=causation_id,
    )
    return {
        "id": str(envelope.event_id),
        "topic": event.topic,
        "key": envelope.key,
        "value": envelope.to_bytes().decode(),
    }


class OutboxCollection:
    """One collection whose writes carry their events; every write bumps ``version``."""

    def __init__(
        self,
        collection: AsyncCollection[Document],
        *,
        producer: str,
        on_write: Callable[[str, Any], None] | None = None,
        entity: str = "document",
    ) -> None:
        self.collection = collection
        self.producer = producer
        self.entity = entity
        self._on_write = on_write

    def _entries(self, events: Sequence[ContractEvent], causation_id: str | None) -> list[Document]:
        return [outbox_entry(e, producer=self.producer, causation_id=causation_id) for e in events]

    def _written(self, doc_id: Any) -> None:
        if self._on_write is not None:
            self._on_write(self.collection.name, doc_id)

    async def insert(
        self,
        document: Mapping[str, Any],
        events: Sequence[ContractEvent] = (),
        *,
        causation_id: str | None = None,
    ) -> Document:
        """Insert a new document at version 1 with its events; a taken ``_id`` is a 409."""
        doc: Document = {**document, VERSION: 1, OUTBOX: self._entries(events, causation_id)}
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as exc:
            raise Conflict(f"{self.entity} {document.get('_id')} already exists") from exc
        if events:
            self._written(doc["_id"])
        return doc

    async def update(
        self,
        doc_id: Any,
        changes: Mapping[str, Mapping[str, Any]],
        events: Sequence[ContractEvent] = (),
        *,
        expected_version: int | None = None,
        extra_filter: Mapping[str, Any] | None = None,
        causation_id: str | None = None,
    ) -> Document:
        """Apply update operators and append events in one atomic update.

        ``expected_version`` turns the write into an optimistic one: a document that moved on
        meanwhile is refused with :class:`VersionConflict`. ``extra_filter`` lets a caller guard
        on state too (a consumer's version guard). Returns the document after the update.
        """
        update: dict[str, dict[str, Any]] = {op: dict(v) for op, v in changes.items()}
        update.setdefault("$inc", {})[VERSION] = 1
        entries = self._entries(events, causation_id)
        if entries:
            update.setdefault("$push", {})[OUTBOX] = {"$each": entries}
        query: dict[str, Any] = {"_id": doc_id, **(extra_filter or {})}
        if expected_version is not None:
            query[VERSION] = expected_version
        after = await self.collection.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        if after is None:
            await self._explain_miss(doc_id, expected_version)
        assert after is not None
        if entries:
            self._written(doc_id)
        return after

    async def _explain_miss(self, doc_id: Any, expected_version: int | None) -> None:
        current = await self.collection.find_one({"_id": doc_id}, {VERSION: 1})
        if current is None:
            raise NotFound(f"{self.entity} {doc_id} not found")
        if expected_version is not None and current.get(VERSION) != expected_version:
            raise VersionConflict(
                f"{self.entity} {doc_id} is at version {current.get(VERSION)}, "
                f"not {expected_version}"
            )
        raise Conflict(f"{self.entity} {doc_id} is not in a state that allows this change")
