"""Batch handlers of the idempotent consumer, on the real store.

The consumer is driven through ``process_batch`` directly (as the kit's subscriber does), with
markers in the real store; dead letters go to ``FakeDeadLetters``, an in-memory stand-in for the
broker that only records what would have been sent.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses
from crm_contracts.contacts import ClientRegistered, EmployeeRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_contracts.values import (
    Department,
)
from crm_kit.consumer import IdempotentConsumer, Outcome, RecordInfo
from crm_kit.testing import client_registered


class FakeDeadLetters:
    """Records dead letters in memory instead of sending them to the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes,
        headers: dict[str, str] | None = None,
        *,
        correlation_id: str | None = None,
    ) -> Any:
        self.sent.append((topic, key, value))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


class Calls:
    def __init__(self) -> None:
        self.log: list[tuple[str, list[str]]] = []

    async def single(self, event: ContractEvent, _: Envelope) -> None:
        name = getattr(event, "name", "")
        if "poison" in name:
            raise RuntimeError("poison")
        self.log.append(("single", [name]))

    async def batch(self, items: Sequence[tuple[ContractEvent, Envelope]]) -> None:
        names = [getattr(e, "name", "") for e, _ in items]
        if any("poison" in n for n in names):
            raise RuntimeError("a poison event in the batch")
        self.log.append(("batch", names))


def _employee(name: str) -> EmployeeRegistered:
    return EmployeeRegistered(
        employee_id=str(uuid.uuid4()),
        name=name,
        department=Department.SALES,
        role="manager",
        channels=ChannelAddresses(),
        active=True,
        version=1,
        registered_at=datetime.now(UTC),
    )


def _records(events: Sequence[ContractEvent], key: bytes = b"one-key") -> list[Any]:
    return [
        (Envelope.wrap(e, producer="t").to_bytes(), RecordInfo(CONTACTS, 0, offset, key))
        for offset, e in enumerate(events)
    ]


def _consumer(
    mongo_db: Any, calls: Calls, dead: FakeDeadLetters, *, unmarked: Sequence[str] = ()
) -> IdempotentConsumer:
    return IdempotentConsumer(
        db=mongo_db,
        dead_letters=dead,
        service="kittest",
        group=f"batch-{uuid.uuid4().hex[:8]}",
        handlers={
            ClientRegistered.event_type: calls.single,
            EmployeeRegistered.event_type: calls.single,
        },
        batch_handlers={ClientRegistered.event_type: calls.batch},
        max_attempts=2,
        backoff_s=0.0,
        unmarked=unmarked,
    )


async def test_consecutive_events_of_a_batch_type_go_in_one_call_and_only_once(
    mongo_db: Any,
) -> None:
    calls, dead = Calls(), FakeDeadLetters()
    consumer = _consumer(mongo_db, calls, dead)
    records = _records([client_registered(f"c{i}") for i in range(5)])

    assert await consumer.process_batch(records) == [Outcome.PROCESSED] * 5
    assert calls.log == [("batch", ["c0", "c1", "c2", "c3", "c4"])]
    assert await mongo_db["processed_events"].count_documents({"group": consumer.group}) == 5

    # Delivered again (a crash before the offset commit): nothing runs twice.
    assert await consumer.process_batch(records) == [Outcome.DUPLICATE] * 5
    assert len(calls.log) == 1


async def test_an_unmarked_type_keeps_no_marker_and_its_redelivery_runs_the_handler_again(
    mongo_db: Any,
) -> None:
    calls, dead = Calls(), FakeDeadLetters()
    consumer = _consumer(mongo_db, calls, dead, unmarked=[ClientRegistered.event_type])
    records = _records([client_registered("c0"), client_registered("c1"), _employee("e0")])

    assert await consumer.process_batch(records) == [Outcome.PROCESSED] * 3
    assert calls.log == [("batch", ["c0", "c1"]), ("single", ["e0"])]
    markers = mongo_db["processed_events"].find({"group": consumer.group})
    assert [m["event_type"] async for m in markers] == [EmployeeRegistered.event_type]

    # Delivered again: the unmarked ones run again (their handler's own insert is the record),
    # the marked one is a duplicate.
    again = await consumer.process_batch(records)
    assert again == [Outcome.PROCESSED, Outcome.PROCESSED, Outcome.DUPLICATE]
    assert calls.log[2:] == [("batch", ["c0", "c1"])]


async def test_other_types_keep_their_place_in_the_lane(mongo_db: Any) -> None:
    calls, dead = Calls(), FakeDeadLetters()
    consumer = _consumer(mongo_db, calls, dead)
    events: list[ContractEvent] = [
        client_registered("a1"),
        client_registered("a2"),
        _employee("e"),
        client_registered("a3"),
    ]

    assert await consumer.process_batch(_records(events)) == [Outcome.PROCESSED] * 4
    # A run of one goes through the single handler.
    assert calls.log == [("batch", ["a1", "a2"]), ("single", ["e"]), ("single", ["a3"])]


async def test_a_failing_batch_falls_back_to_one_by_one_and_dead_letters_only_the_bad_event(
    mongo_db: Any,
) -> None:
    calls, dead = Calls(), FakeDeadLetters()
    consumer = _consumer(mongo_db, calls, dead)
    events = [client_registered("g1"), client_registered("poison"), client_registered("g2")]
    records = _records(events)

    outcomes = await consumer.process_batch(records)

    assert outcomes == [Outcome.PROCESSED, Outcome.DEAD_LETTERED, Outcome.PROCESSED]
    assert calls.log == [("single", ["g1"]), ("single", ["g2"])]
    assert [value for _, _, value in dead.sent] == [records[1][0]]
    markers = {d["event_id"] async for d in mongo_db["processed_events"].find({})}
    assert markers == {str(Envelope.from_bytes(records[i][0]).event_id) for i in (0, 2)}


async def test_an_event_already_processed_splits_the_run_and_is_skipped(mongo_db: Any) -> None:
    calls, dead = Calls(), FakeDeadLetters()
    consumer = _consumer(mongo_db, calls, dead)
    events = [client_registered(f"d{i}") for i in range(4)]
    records = _records(events)
    assert await consumer.process_batch([records[1]]) == [Outcome.PROCESSED]

    outcomes = await consumer.process_batch(records)

    assert outcomes == [Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.PROCESSED, Outcome.PROCESSED]
    assert calls.log == [("single", ["d1"]), ("single", ["d0"]), ("batch", ["d2", "d3"])]


@pytest.mark.parametrize(
    ("setting", "refusal"),
    [
        ({"batch_handlers": {ClientRegistered.event_type: Calls().batch}}, "single-event handler"),
        ({"unmarked": [ClientRegistered.event_type]}, "without a handler"),
    ],
    ids=["a batch handler needs its single-event fallback", "an unmarked type needs a handler"],
)
def test_a_consumer_refuses_a_handler_setting_it_could_not_honour(
    mongo_db: Any, setting: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(ValueError, match=refusal):
        IdempotentConsumer(
            db=mongo_db,
            dead_letters=FakeDeadLetters(),
            service="kittest",
            group="g",
            handlers={},
            **setting,
        )
