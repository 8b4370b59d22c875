"""What a running service holds: settings, the store, the broker, the outbox relay."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any

from aiokafka import AIOKafkaProducer
from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.outbox import Document, Outbox, OutboxCollection
from crm_kit.records import PRODUCER_OUT_OF_STEP, is_permanent
from crm_kit.relay import OutboxRelay
from crm_kit.sealing import Sealer
from crm_kit.settings import ServiceSettings

log = logging.getLogger(__name__)


STOP_OLD_PRODUCER_S = 10.0


class BrokerPublisher:
    """The relay's and the dead-letter path's way to Kafka, through the FastStream broker.

    A record the broker refuses for good leaves aiokafka's idempotent producer out of step:
    the refused batch's sequence numbers were used up, so the broker answers the partition's
    next batch with ``OutOfOrderSequenceNumber`` and the producer's sender stops (failing
    everything pending). So when a send ends in such a refusal, the broker's producer is
    replaced by a fresh one (a new producer id, sequences from zero) before the error reaches
    the caller, who may then send again. Once per failure: the sends of one broken producer
    renew it once.
    """

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker
        self._generation = 0
        self._renewing = asyncio.Lock()

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Awaitable[Any]:
        generation = self._generation
        # FastStream writes ``correlation_id`` as the record's header of that name (a fresh
        # UUID when given none); ``headers`` are laid over it.
        future: Awaitable[Any] = await self.broker.publish(
            value,
            topic,
            key=key,
            headers=headers,
            correlation_id=correlation_id,
            no_confirm=True,
        )
        return self._acknowledged(future, generation)

    async def _acknowledged(self, future: Awaitable[Any], generation: int) -> Any:
        try:
            return await future
        except Exception as exc:
            if is_permanent(exc) or isinstance(exc, PRODUCER_OUT_OF_STEP):
                await self.renew(generation)
            raise

    async def renew(self, generation: int | None = None) -> None:
        """Replace the broker's producer by a fresh one (unless ``generation`` is past)."""
        async with self._renewing:
            if generation is not None and generation != self._generation:
                return
            self._generation += 1
            # FastStream builds its producer from these at ``start``; a new one made the same
            # way (credentials included) takes its place, and the old one is let go.
            fast: Any = self.broker.config.producer
            old = fast._producer
            kwargs: dict[str, Any] = self.broker._connection_kwargs
            await fast.connect(
                AIOKafkaProducer(**kwargs), serializer=fast.serializer, codec=fast.codec
            )
            log.warning("the Kafka producer was out of step with the broker; replaced it")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(old.stop(), timeout=STOP_OLD_PRODUCER_S)


class ServiceDatabase(AsyncDatabase[Document]):
    """The service's database, handing out one collection object per name.

    PyMongo builds a new ``AsyncCollection`` on every ``db[name]`` (options, codec, read and
    write concerns resolved again each time); repositories built per request asked for three
    to five of them on every call, measurable next to a read by id's own ~0.5 ms of CPU.
    Collection objects hold no per-operation state, so one per name serves every caller.
    ``get_collection`` with options still builds a new one.
    """

    def __init__(self, client: AsyncMongoClient[Document], name: str) -> None:
        self.__collections: dict[str, AsyncCollection[Document]] = {}
        super().__init__(client, name)

    def __getitem__(self, name: str) -> AsyncCollection[Document]:
        found = self.__collections.get(name)
        if found is None:
            found = self.__collections[name] = super().__getitem__(name)
        return found


@dataclass
class Runtime:
    settings: ServiceSettings
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    broker: KafkaBroker
    relay: OutboxRelay
    events: Outbox
    """The outbox collection: ``events.transaction(work)`` runs a state change and
    ``events.add(session, events.entries([...]))`` in one transaction."""
    sealer: Sealer | None = None
    """Seals and unseals personal fields in events with the key vault (``crm_kit.sealing``)."""

    def outbox(self, collection: str, entity: str = "document") -> OutboxCollection:
        """A collection whose writes carry their events (in one transaction with them)."""
        return OutboxCollection(self.db[collection], self.events, entity=entity)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
