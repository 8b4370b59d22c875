"""Personal-data events (sealed) through the outbox relay and a consumer, against the same
events unsealed.

    uv run python bench/relay_sealed.py [--count 5000] [--rounds 3]

Needs the local stack's MongoDB (`uv run crm-stack up`; `CRM_MONGO_URI`, or the stack's
default). Each round writes ``--count`` contacts' ``PersonAdded`` (each a person of their own,
as an import of a spreadsheet makes them) into the outbox of a scratch database and times
``OutboxRelay.drain`` publishing them in batches of 500 to a publisher that keeps each record
and answers at once (the broker's work is not in the figure):

  - ``unsealed``: the relay without a key vault, the baseline of the same run;
  - ``sealed, new people``: with the key vault on the same store, each person's key made as
    their first event goes out (as an import's events do);
  - ``sealed, known people``: the same people's next events (``PersonUpdated``), their keys
    read from the vault.

Then the records of each step are consumed back by the kit's idempotent consumer
(``IdempotentConsumer.process_batch``, batches of 200, 16 lanes, a handler that does nothing;
its processed-event markers in the same scratch database), unsealed with the same vault.

It prints the wall time and this process's CPU per event, the ratio to the unsealed baseline,
and the store commands the step sent per event (the server's opcounters). Figures only, never
part of pass/fail. To measure another version of the kit, run this file with
``PYTHONPATH=<other tree>/contracts:<other tree>/services/kit`` in front of it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import uvloop
from crm_contracts.base import ContractEvent
from crm_contracts.contacts import PersonAdded, PersonUpdated
from crm_kit.consumer import IdempotentConsumer, RecordInfo
from crm_kit.outbox import OUTBOX, outbox_entry
from crm_kit.relay import OutboxRelay
from crm_kit.sealing import KeyVault, Sealer
from pymongo import AsyncMongoClient

AT = datetime(2026, 12, 7, 9, tzinfo=UTC)
COUNTED = ("query", "insert", "update", "delete", "getmore", "command")


class KeepingPublisher:
    """Keeps each record and answers at once."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes, RecordInfo]] = []

    async def send(self, topic: str, key: bytes, value: bytes, headers: Any = None,
                   *, correlation_id: str | None = None) -> Awaitable[Any]:  # fmt: skip
        self.records.append((value, RecordInfo(topic, 0, len(self.records), key, None, ())))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def person(n: int, run: str, cls: type[ContractEvent] = PersonAdded) -> ContractEvent:
    return cls.model_validate(
        {
            "client_id": f"bench-client-{run}-{n}",
            "person_id": f"bench-person-{run}-{n}",
            "name": f"Анна Смирнова {n}",
            "position": "Engineer",
            "language": "ru",
            "channels": {"email": f"anna-{n}@client.example", "phone": f"+7495{n:07d}"},
            "version": 1 if cls is PersonAdded else 2,
            **({"added_at": AT} if cls is PersonAdded else {"updated_at": AT}),
            **({} if cls is PersonAdded else {"changed_fields": ["name"]}),
        }
    )


async def opcounters(client: AsyncMongoClient[dict[str, Any]]) -> dict[str, int]:
    status = await client.admin.command("serverStatus")
    return {k: int(status["opcounters"][k]) for k in COUNTED}


Figures = tuple[float, float, dict[str, float]]
"""Wall seconds, CPU seconds and store commands per event of one step."""


async def measured(
    client: AsyncMongoClient[dict[str, Any]], count: int, step: Awaitable[None]
) -> Figures:
    before = await opcounters(client)
    wall, cpu = time.perf_counter(), time.process_time()
    await step
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = await opcounters(client)
    # Less the two serverStatus commands of this measurement itself.
    ops = {k: (after[k] - before[k] - (2 if k == "command" else 0)) / count for k in COUNTED}
    return wall, cpu, ops


async def one(
    client: AsyncMongoClient[dict[str, Any]], db: Any, events: list[ContractEvent],
    sealer: Sealer | None,
) -> tuple[Figures, Figures]:  # fmt: skip
    """The relay's drain of ``events``, and the consumer's batches of what it published."""
    await db[OUTBOX].insert_many([outbox_entry(e, producer="contacts") for e in events])
    publisher = KeepingPublisher()
    relay = OutboxRelay(db, publisher, service="bench", sealer=sealer)
    relayed = await measured(client, len(events), relay.drain())
    await relay.release()
    assert len(publisher.records) == len(events), len(publisher.records)
    handled = 0

    async def nothing(event: ContractEvent, envelope: Any) -> None:
        nonlocal handled
        handled += 1

    consumer = IdempotentConsumer(
        db=db,
        dead_letters=KeepingPublisher(),
        service="bench",
        group=f"bench-{uuid.uuid4().hex[:6]}",
        handlers={e.event_type: nothing for e in events[:1]},
        concurrency=16,
        sealer=sealer,
    )

    async def consume() -> None:
        for i in range(0, len(publisher.records), 200):
            await consumer.process_batch(publisher.records[i : i + 200])

    consumed = await measured(client, len(events), consume())
    assert handled == len(events), handled
    return relayed, consumed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    uri = os.environ.get("CRM_MONGO_URI", "mongodb://127.0.0.1:27017/?replicaSet=rs0")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    print(f"relay of {args.count} PersonAdded/PersonUpdated on {uri}, load "
          f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    for round_no in range(1, args.rounds + 1):
        run = uuid.uuid4().hex[:8]
        name = f"bench_relay_sealed_{run}"
        db = client[name]
        try:
            sealer = Sealer(KeyVault(db, "bench-master-secret-of-the-key-vault"))
            added = [person(n, run) for n in range(args.count)]
            updated = [person(n, run, PersonUpdated) for n in range(args.count)]
            steps = [
                ("unsealed", await one(client, db, added, None)),
                ("sealed, new people", await one(client, db, added, sealer)),
                ("sealed, known people", await one(client, db, updated, sealer)),
            ]
        finally:
            await client.drop_database(name)
        print(f"round {round_no}:")
        for part, side in (("relay", 0), ("consumer", 1)):
            base_wall, base_cpu, _ = steps[0][1][side]
            for label, figures in steps:
                wall, cpu, ops = figures[side]
                n = args.count
                commands = ", ".join(f"{k} {v:.3f}" for k, v in ops.items() if v > 0.0005)
                print(f"  {part:8s} {label:22s} {1000 * wall / n:6.3f} ms wall "
                      f"({wall / base_wall:5.2f}x)  {1000 * cpu / n:6.3f} ms CPU "
                      f"({cpu / base_cpu:5.2f}x)  per event: {commands}")  # fmt: skip
    await client.close()


if __name__ == "__main__":
    uvloop.run(main())
