"""The transactional outbox: a state change and its events in one MongoDB transaction.

Pending events live in the service database's ``outbox`` collection, one document per event,
``{"_id": ObjectId, "event_id", "event_type", "topic", "key", "correlation_id", "value"}``, where
``value`` is
the envelope as a JSON string (published byte for byte; payload keys never meet the store's
field-name rules). They are inserted in the same transaction as the state change that caused
them, so either both are stored or neither is. The relay (``relay.py``) learns of them from a
change stream, publishes them and deletes them. ``_id`` is made here, in write order, so the
relay's recovery read of what is left follows the order events were written in
(docs/decisions/0006).

An event that would not fit the broker's limit is refused when it is added, inside the
transaction (``Outbox.add``: 413 ``EventTooLarge``), so nothing of that write is stored.

A write that causes no event is a plain single-document write, with no transaction.

Every event carries a correlation id: the one given, else the context's (the HTTP request's,
the consumed event's, the background run's: ``crm_kit.logs``), else a fresh one. It is kept
beside the envelope so that the relay publishes it as the record's ``correlation_id`` header,
equal to the envelope's field.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from bson import ObjectId
from crm_contracts.base import ContractEvent
from crm_contracts.envelope import Envelope
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from crm_kit.audit import AUDIT, entries_of
from crm_kit.logs import (
    current_actor,
    current_causation_id,
    current_correlation_id,
    new_correlation_id,
)
from crm_kit.metrics import EVENTS_REFUSED_TOO_LARGE
from crm_kit.problems import Conflict, EventTooLarge, NotFound, VersionConflict
from crm_kit.records import DEFAULT_EVENT_MAX_BYTES

Document = dict[str, Any]
OUTBOX = "outbox"
"""The collection of events not yet published."""
VERSION = "version"

T = TypeVar("T")


def outbox_entry(
    event: ContractEvent,
    *,
    producer: str,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> Document:
    """The outbox document of one event (its ``_id`` orders it after every earlier one).

    The envelope's JSON is written once, straight from the event's model
    (``Envelope.wrap_to_bytes``: the same bytes as ``Envelope.wrap(...).to_bytes()``)."""
    envelope, value = Envelope.wrap_to_bytes(
        event,
        producer=producer,
        key=event.aggregate_key(),
        correlation_id=correlation_id or current_correlation_id() or new_correlation_id(),
        causation_id=causation_id or current_causation_id(),
        actor=current_actor(),
    )
    return {
        "_id": ObjectId(),
        "event_id": str(envelope.event_id),
        "event_type": envelope.event_type,
        "topic": event.topic,
        "key": envelope.key,
        "correlation_id": envelope.correlation_id,
        # For the audit trail (crm_kit.audit), written beside the entry in its transaction.
        "occurred_at": envelope.occurred_at,
        "actor": envelope.actor.model_dump() if envelope.actor else None,
        "value": value.decode(),
    }


def entry_size(entry: Mapping[str, Any]) -> int:
    """The bytes of an outbox document's record: its encoded envelope and its key."""
    return len(str(entry["value"]).encode()) + len(str(entry["key"]).encode())


class Outbox:
    """The service's outbox collection and the transactions that write to it.

    An event larger than ``max_event_bytes`` (encoded envelope plus key) could never be
    published; :meth:`add` refuses it with :class:`EventTooLarge` (413) inside the transaction,
    so the change that caused it is not stored either.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        producer: str,
        max_event_bytes: int = DEFAULT_EVENT_MAX_BYTES,
    ) -> None:
        self.collection: AsyncCollection[Document] = db[OUTBOX]
        self.producer = producer
        self.max_event_bytes = max_event_bytes
        self._client: AsyncMongoClient[Document] = db.client

    def entries(
        self,
        events: Sequence[ContractEvent],
        causation_id: str | None = None,
        *,
        correlation_id: str | None = None,
    ) -> list[Document]:
        """The outbox documents of ``events``; the correlation and causation ids default to
        the context's (see :func:`outbox_entry`)."""
        return [
            outbox_entry(
                e, producer=self.producer, correlation_id=correlation_id, causation_id=causation_id
            )
            for e in events
        ]

    async def add(self, session: AsyncClientSession, entries: Sequence[Document]) -> None:
        """Store ``entries`` as part of ``session``'s transaction; an event too large for the
        broker raises :class:`EventTooLarge`, which aborts the transaction."""
        for entry in entries:
            size = entry_size(entry)
            if size > self.max_event_bytes:
                event_type = str(entry.get("event_type", "event"))
                EVENTS_REFUSED_TOO_LARGE.labels(self.producer, event_type).inc()
                raise EventTooLarge(event_type, size, self.max_event_bytes)
        if entries:
            await self.collection.insert_many(list(entries), ordered=True, session=session)
            audited = entries_of(entries)
            if audited:
                await self.collection.database[AUDIT].insert_many(audited, session=session)

    async def transaction(self, work: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run ``work`` in one transaction, retried as a whole on transient errors (a write
        conflict with a concurrent transaction, a primary stepping down). ``work`` must
        therefore be safe to run again: it reads what it needs through the session."""
        async with self._client.start_session() as session:
            return await session.with_transaction(
                work,
                read_concern=ReadConcern("snapshot"),
                write_concern=WriteConcern("majority"),
            )


class OutboxCollection:
    """One collection whose writes carry their events; every write bumps ``version``."""

    def __init__(
        self, collection: AsyncCollection[Document], outbox: Outbox, *, entity: str = "document"
    ) -> None:
        self.collection = collection
        self.outbox = outbox
        self.entity = entity

    async def insert(
        self,
        document: Mapping[str, Any],
        events: Sequence[ContractEvent] = (),
        *,
        causation_id: str | None = None,
    ) -> Document:
        """Insert a new document at version 1 with its events; a taken ``_id`` is a 409."""
        doc: Document = {**document, VERSION: 1}
        entries = self.outbox.entries(events, causation_id)

        async def work(session: AsyncClientSession | None) -> None:
            await self.collection.insert_one(doc, session=session)
            if session is not None:
                await self.outbox.add(session, entries)

        try:
            if entries:
                await self.outbox.transaction(work)
            else:
                await work(None)
        except DuplicateKeyError as exc:
            raise Conflict(f"{self.entity} {document.get('_id')} already exists") from exc
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
        """Apply update operators and store the events, atomically.

        ``expected_version`` turns the write into an optimistic one: a document that moved on
        meanwhile is refused with :class:`VersionConflict`. ``extra_filter`` lets a caller guard
        on state too (a consumer's version guard). Returns the document after the update.
        """
        update: dict[str, dict[str, Any]] = {op: dict(v) for op, v in changes.items()}
        update.setdefault("$inc", {})[VERSION] = 1
        query: dict[str, Any] = {"_id": doc_id, **(extra_filter or {})}
        if expected_version is not None:
            query[VERSION] = expected_version
        entries = self.outbox.entries(events, causation_id)

        async def work(session: AsyncClientSession | None) -> Document | None:
            after = await self.collection.find_one_and_update(
                query, update, return_document=ReturnDocument.AFTER, session=session
            )
            if after is not None and session is not None:
                await self.outbox.add(session, entries)
            return after

        after = await (self.outbox.transaction(work) if entries else work(None))
        if after is None:
            await self._explain_miss(doc_id, expected_version)
        assert after is not None
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
