"""What a running service holds: settings, the store, the broker, the outbox relay."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from faststream.kafka import KafkaBroker
from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from crm_kit.outbox import Document, Outbox, OutboxCollection
from crm_kit.relay import OutboxRelay
from crm_kit.settings import ServiceSettings


class BrokerPublisher:
    """The relay's and the dead-letter path's way to Kafka, through the FastStream broker."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker

    async def send(
        self, topic: str, key: bytes, value: bytes, headers: dict[str, str] | None = None
    ) -> Awaitable[Any]:
        future: Awaitable[Any] = await self.broker.publish(
            value, topic, key=key, headers=headers, no_confirm=True
        )
        return future


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

    def outbox(self, collection: str, entity: str = "document") -> OutboxCollection:
        """A collection whose writes carry their events (in one transaction with them)."""
        return OutboxCollection(self.db[collection], self.events, entity=entity)


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
