"""What one event costs in CPU on its way from a write to a consumer's handler, step by step.

    uv run python bench/event_path_cost.py [--count 20000] [--rounds 3]

Runs the kit's real code in this one process, with no broker and no store, and reads
``time.process_time`` around each step over ``--count`` events (on uvloop, as the services run):

  - ``outbox document``: ``crm_kit.outbox.outbox_entry`` for campaigns' ``InvitationRequested``
    (the fan-out's event), in the context of a run's correlation id;
  - ``relay: records``: ``OutboxRelay._publish`` over batches of 500 such documents (sealing,
    encoding and the per-event bookkeeping; the record is handed to a publisher that keeps it
    and answers at once, so FastStream's and aiokafka's work is not in it);
  - ``relay: FastStream's publish``: the services' ``BrokerPublisher.send`` of each record
    through FastStream, down to aiokafka's producer, which answers at once here (aiokafka's
    own batching, compression and network work is not in it);
  - ``consumer: decode``: the record's bytes to the envelope and the typed payload, unsealed,
    as a handler receives them;
  - ``consumer: batches``: ``IdempotentConsumer.process_batch`` over batches of 200 records, as
    notify subscribes to them (a batch handler that does nothing): decoding, the
    processed-event markers (looked up and written in a collection held in memory), the lanes
    and the counters.

``InvitationRequested`` holds no personal field, so its sealing and unsealing are a look-up.
The same steps are then run for contacts' ``PersonAdded`` (a person's name, position and
addresses, sealed under their key) with a key vault held in memory (``crm_kit.sealing.KeyVault``
itself over a dict: its keys wrapped under the master key and unwrapped on every read, as in
the store; the store's round trip is not in the figure), and unsealing once the key is erased.

Figures only; never part of pass/fail. To compare two versions of the kit, run this file with
``PYTHONPATH=<other tree>/contracts:<other tree>/services/kit`` in front of it.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import crm_contracts
import crm_kit
import uvloop
from crm_contracts.base import ContractEvent
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import Place, Recipient
from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_contracts.personal import ERASED
from crm_contracts.values import RecipientKind
from crm_kit.consumer import IdempotentConsumer, RecordInfo
from crm_kit.logs import correlation_id, new_correlation_id
from crm_kit.outbox import outbox_entry
from crm_kit.relay import OutboxRelay
from crm_kit.runtime import BrokerPublisher
from crm_kit.sealing import KeyVault, Sealer
from faststream.kafka import KafkaBroker

Document = dict[str, Any]
AT = datetime(2026, 12, 7, 9, tzinfo=UTC)
EXAMPLE_INVITATION = next(e for e in example_events() if isinstance(e, InvitationRequested))
RELAY_BATCH = 500
CONSUMER_BATCH = 200


def invitation(n: int) -> InvitationRequested:
    """An invitation as campaigns' run writes one for a client's person (ids are ObjectIds):
    the contracts' example, with what differs between participants and a Russian event."""
    token = f"{n:024x}." + "Qm9va2luZy1hbnN3ZXItdG9rZW4" * 4
    return EXAMPLE_INVITATION.model_copy(
        update={
            "event_id": "6751d0c3a1b2c3d4e5f60718",
            "participant_id": f"{n:024x}",
            "recipient": Recipient(
                kind=RecipientKind.PERSON, id=f"p{n:023x}", client_id=f"c{n:023x}"
            ),
            "event_title": "Выставка «СтройЭкспо 2026»",
            "event_topic": "Новые материалы для фасадов",
            "place": Place(venue="Крокус Экспо, павильон 3", address="Москва, ул. 16"),
            "answer_token": token,
            "answer_url": f"https://crm.example/i/{token}",
            "check_in_code": f"K{n % 100000:05d}",
        }
    )


def person(n: int) -> PersonAdded:
    return PersonAdded.model_validate(
        {
            "client_id": f"c{n:023x}",
            "person_id": f"p{n:023x}",
            "name": "Анна Сергеевна Смирнова",
            "position": "Главный инженер",
            "language": "ru",
            "channels": {
                "email": f"anna{n}@client.example",
                "phone": "+74951234567",
                "mobile": "+79161234567",
            },
            "version": 1,
            "added_at": AT,
        }
    )


# --- what stands in for the store and the broker ----------------------------------------------


class _Found:
    def __init__(self, docs: Iterable[Document]) -> None:
        self._docs = iter(list(docs))

    def __aiter__(self) -> _Found:
        return self

    async def __anext__(self) -> Document:
        try:
            return next(self._docs)
        except StopIteration:
            raise StopAsyncIteration from None


class MemoryCollection:
    """The few collection calls the relay, the consumer and the key vault make, over a dict."""

    def __init__(self) -> None:
        self.docs: dict[Any, Document] = {}

    async def find_one(self, query: Document, projection: Any = None) -> Document | None:
        return self.docs.get(query["_id"])

    def find(self, query: Document, projection: Any = None) -> _Found:
        ids = query["_id"]["$in"]
        return _Found(self.docs[i] for i in ids if i in self.docs)

    async def insert_one(self, doc: Document, **_: Any) -> None:
        self.docs[doc["_id"]] = doc

    async def insert_many(self, docs: Iterable[Document], **_: Any) -> None:
        for doc in docs:
            self.docs[doc["_id"]] = doc

    async def delete_many(self, query: Document, **_: Any) -> None:
        for doc_id in query["_id"]["$in"]:
            self.docs.pop(doc_id, None)

    async def update_one(self, query: Document, update: Any, **_: Any) -> None:
        self.docs[query["_id"]] = {"_id": query["_id"], "erased_at": AT}


class MemoryDatabase:
    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection())

    def get_collection(self, name: str, **_: Any) -> MemoryCollection:
        return self[name]


class KeepingPublisher:
    """Keeps each record's value and answers as the broker's acknowledgement would."""

    def __init__(self) -> None:
        self.records: list[tuple[str, bytes, bytes]] = []
        self._acked: asyncio.Future[None] | None = None

    async def send(self, topic: str, key: bytes, value: bytes, *_: Any, **__: Any) -> Any:
        if self._acked is None:
            self._acked = asyncio.get_running_loop().create_future()
            self._acked.set_result(None)
        self.records.append((topic, key, value))
        return self._acked


# --- the steps --------------------------------------------------------------------------------


def cpu_us(seconds: float, count: int) -> float:
    return seconds / count * 1e6


def documents(events: list[ContractEvent], producer: str) -> tuple[list[Document], float]:
    token = correlation_id.set(new_correlation_id())
    try:
        start = time.process_time()
        docs = [outbox_entry(e, producer=producer) for e in events]
        return docs, time.process_time() - start
    finally:
        correlation_id.reset(token)


async def relay_records(
    docs: list[Document], sealer: Sealer
) -> tuple[list[tuple[str, bytes, bytes]], float]:
    publisher = KeepingPublisher()
    relay = OutboxRelay(MemoryDatabase(), publisher, service="bench", sealer=sealer)  # type: ignore[arg-type]
    start = time.process_time()
    for i in range(0, len(docs), RELAY_BATCH):
        await relay._publish(docs[i : i + RELAY_BATCH])
    return publisher.records, time.process_time() - start


class _AckingAiokafka:
    """Stands in for aiokafka's producer under FastStream: its ``send`` answers at once."""

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, **_: Any) -> Any:
        acked = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked


async def faststream_publish(records: list[tuple[str, bytes, bytes]]) -> float:
    """The services' ``BrokerPublisher.send`` for each record, through FastStream's publish,
    down to (not including) aiokafka's own ``send``."""
    broker = KafkaBroker("127.0.0.1:9")
    await broker.config.producer.connect(_AckingAiokafka(), serializer=None)  # type: ignore[arg-type]
    publisher = BrokerPublisher(broker)
    start = time.process_time()
    for topic, key, value in records:
        await (await publisher.send(topic, key, value, correlation_id="bench"))
    return time.process_time() - start


def record_infos(records: list[tuple[str, bytes, bytes]]) -> list[tuple[bytes, RecordInfo]]:
    return [
        (value, RecordInfo(topic, 0, offset, key, None, ()))
        for offset, (topic, key, value) in enumerate(records)
    ]


async def decode(items: list[tuple[bytes, RecordInfo]], sealer: Sealer) -> float:
    """The record's bytes to what a handler is given, as the consumer does it: the envelope
    parsed, its personal fields unsealed, its payload opened as the contract's class. Nothing
    is kept (a consumer lets go of each batch), so the figure is not the memory of 20,000."""
    start = time.process_time()
    for raw, _record in items:
        (await sealer.unseal(Envelope.from_bytes(raw))).open()
    return time.process_time() - start


async def opened(items: list[tuple[bytes, RecordInfo]], sealer: Sealer) -> list[ContractEvent]:
    return [(await sealer.unseal(Envelope.from_bytes(raw))).open() for raw, _record in items]


def _consumer(sealer: Sealer, seen: Callable[[Any], None]) -> IdempotentConsumer:
    async def one(event: ContractEvent, envelope: Envelope) -> None:
        seen([(event, envelope)])

    async def many(pairs: Any) -> None:
        seen(pairs)

    types = (InvitationRequested.event_type, PersonAdded.event_type)
    return IdempotentConsumer(
        db=MemoryDatabase(),  # type: ignore[arg-type]
        dead_letters=KeepingPublisher(),
        service="bench",
        group="bench",
        handlers=dict.fromkeys(types, one),
        batch_handlers={InvitationRequested.event_type: many},
        sealer=sealer,
    )


async def consume(items: list[tuple[bytes, RecordInfo]], sealer: Sealer) -> tuple[int, float]:
    handled = 0

    def seen(pairs: Any) -> None:
        nonlocal handled
        handled += len(pairs)

    consumer = _consumer(sealer, seen)
    start = time.process_time()
    for i in range(0, len(items), CONSUMER_BATCH):
        await consumer.process_batch(items[i : i + CONSUMER_BATCH])
    return handled, time.process_time() - start


async def one_round(count: int) -> dict[str, float]:
    vault = KeyVault(MemoryDatabase(), "bench master secret")  # type: ignore[arg-type]
    sealer = Sealer(vault)
    out: dict[str, float] = {}
    for label, events, producer in (
        ("InvitationRequested", [invitation(n) for n in range(count)], "campaigns"),
        ("PersonAdded, sealed", [person(n % 1000) for n in range(count)], "contacts"),
    ):
        docs, seconds = documents(events, producer)
        out[f"{label}: outbox document"] = cpu_us(seconds, count)
        records, seconds = await relay_records(docs, sealer)
        assert len(records) == count
        out[f"{label}: relay: records"] = cpu_us(seconds, count)
        if label == "InvitationRequested":
            seconds = await faststream_publish(records)
            out[f"{label}: relay: FastStream's publish"] = cpu_us(seconds, count)
        items = record_infos(records)
        assert await opened(items[:100], sealer) == events[:100], "an event came back changed"
        out[f"{label}: consumer: decode"] = cpu_us(await decode(items, sealer), count)
        handled, seconds = await consume(items, sealer)
        assert handled == count
        out[f"{label}: consumer: batches"] = cpu_us(seconds, count)
    # Every person erased: what their records read as now.
    await vault.destroy({f"person:p{n:023x}" for n in range(1000)})
    assert all(getattr(e, "name", None) == ERASED for e in await opened(items[:100], sealer))
    seconds = await decode(items, sealer)
    out["PersonAdded, sealed: consumer: decode, key erased"] = cpu_us(seconds, count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"kit {os.path.dirname(crm_kit.__file__)}, contracts "
        f"{os.path.dirname(crm_contracts.__file__)}"
    )
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}")
    # The cyclic collector is off: its passes grow with the objects a step keeps (``--count`` of
    # them, handed to the next step), which a service handling a batch at a time does not hold.
    gc.disable()
    rounds = [uvloop.run(one_round(args.count)) for _ in range(args.rounds)]
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} UTC, load {os.getloadavg()[0]:.2f}")
    # The least of the rounds is the step's own cost; the others carry what the machine's other
    # work took from this process's caches and cores meanwhile.
    print(f"µs of CPU per event, {args.count} events: least of {args.rounds} rounds | each round")
    for step in rounds[0]:
        figures = ", ".join(f"{r[step]:6.2f}" for r in rounds)
        print(f"  {step:52s} {min(r[step] for r in rounds):6.2f} | {figures}")


if __name__ == "__main__":
    main()
