"""Every query of the participants reads a range of one of their five indexes, sorting nothing in
memory but the few holders of one check-in code; a database made with the former seven indexes
is upgraded to the five once, its documents still found."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

from crm_campaigns.domain.participants import Participant, ParticipantStatus, Role, person_who
from crm_campaigns.repository import PARTICIPANTS
from crm_campaigns.repository.documents import participant_doc
from crm_campaigns.repository.indexes import create_indexes, rewrite_former_removed_keys
from crm_campaigns.repository.participants import ParticipantRepository
from crm_campaigns.repository.personal import forget_person, held_about
from crm_contracts.contacts import PersonErased
from crm_contracts.personal import ERASED
from crm_kit.outbox import VERSION, Outbox
from crm_kit.query_plans import TEST_READ, profile_every_operation
from crm_kit.runtime import Runtime
from crm_kit.store_format import FORMATS, stored_format
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.database import AsyncDatabase

from .bus import NOW
from .conftest import Campaigns

INDEXES = {
    "_id_",
    "who_1_event_id_1",
    "event_id_1_status_1__id_1",
    "event_id_1_check_in_code_1",
    "waiting_list",
}
_QUERIES = {"find", "aggregate", "count", "distinct", "update", "delete", "findAndModify"}
_SESSION = {"$db", "$clusterTime", "lsid", "txnNumber", "readConcern", "writeConcern",
            "startTransaction", "autocommit", "$readPreference"}  # fmt: skip
_SCANS = {"IXSCAN", "IDHACK", "COUNT_SCAN"}


class _Commands(monitoring.CommandListener):
    """The participants' query commands sent through one client, each under the name of the
    repository call that sent it."""

    def __init__(self) -> None:
        self.label = ""
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        command = event.command
        if event.command_name in _QUERIES and command.get(event.command_name) == PARTICIPANTS:
            self.sent.append((self.label, {k: v for k, v in command.items() if k not in _SESSION}))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def _stages(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, dict):
        if "stage" in plan:
            yield plan
        for value in plan.values():
            yield from _stages(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _stages(value)


def _winning_stages(answer: Any) -> Iterator[dict[str, Any]]:
    """Every stage of every winning plan in an explain answer (an aggregation's is nested)."""
    if isinstance(answer, dict):
        for key, value in answer.items():
            if key == "winningPlan":
                yield from _stages(value)
            elif key != "rejectedPlans":
                yield from _winning_stages(value)
    elif isinstance(answer, list):
        for value in answer:
            yield from _winning_stages(value)


async def _plans(db: AsyncDatabase[Any], sent: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Each call's winning plans' stages, from the real server's explain of what it sent."""
    plans: dict[str, list[dict[str, Any]]] = {}
    for label, command in sent:
        # The server explains one update statement at a time.
        statements = [{**command, "updates": [u]} for u in command.get("updates", [])]
        for one in statements or [command]:
            answer = await db.command({"explain": one, "verbosity": "queryPlanner"})
            plans.setdefault(label, []).extend(_winning_stages(answer))
    return plans


def _named(stages: list[dict[str, Any]]) -> set[str]:
    return {s["stage"] for s in stages}


def _indexes(stages: list[dict[str, Any]]) -> set[str]:
    return {s["indexName"] for s in stages if "indexName" in s}


def _participant(event_id: str, status: ParticipantStatus, n: int, **who: str) -> Participant:
    return Participant(
        participant_id=str(uuid.uuid4()),
        event_id=event_id,
        kind="employee" if "employee_id" in who else "person",
        role=Role.GUEST,
        status=status,
        added_at=NOW + timedelta(minutes=n),
        person_id=who.get("person_id", str(uuid.uuid4()) if "employee_id" not in who else None),
        employee_id=who.get("employee_id"),
        name="Ivan",
        check_in_code=uuid.uuid4().hex[:8].upper(),
    )


def _doc(p: Participant, *, removed_as: str | None = None) -> dict[str, Any]:
    """The stored participant; ``removed_as`` is the key a removed one kept."""
    doc = {"_id": p.participant_id, **participant_doc(p), VERSION: 1}
    if removed_as is not None:
        doc.update(removed=True, removed_at=p.added_at, who=removed_as)
    return doc


@dataclasses.dataclass
class _Seed:
    event_id: str
    other_event_id: str
    person_id: str
    listed: list[Participant]
    """On the event's list (not removed), every status, the person among them."""
    removed: Participant
    """The person, removed from the other event's list."""


async def _seed(db: AsyncDatabase[Any], *, former_keys: bool = False) -> _Seed:
    """Two events' lists: one with each status three times, an employee and the person, the
    other with the person removed; ``former_keys`` stores the removed one as before format 1."""
    event_id, other, person_id = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    listed = [_participant(event_id, s, n) for n, s in enumerate(list(ParticipantStatus) * 3)]
    listed.append(_participant(event_id, ParticipantStatus.PLANNED, 30, person_id=person_id))
    listed.append(_participant(event_id, ParticipantStatus.INVITED, 31, employee_id="e-1"))
    gone = _participant(event_id, ParticipantStatus.DECLINED, 32)
    removed = _participant(other, ParticipantStatus.INVITED, 33, person_id=person_id)
    elsewhere = [_participant(other, s, 40 + n) for n, s in enumerate(ParticipantStatus)]
    former = f"removed:{removed.participant_id}"
    await db[PARTICIPANTS].insert_many(
        [
            *(_doc(p) for p in listed + elsewhere),
            _doc(gone, removed_as=gone.removed_who),
            _doc(removed, removed_as=former if former_keys else removed.removed_who),
        ]
    )
    return _Seed(event_id, other, person_id, listed, removed)


def _watched(c: Campaigns, commands: _Commands) -> tuple[AsyncMongoClient[Any], Runtime]:
    """The service's runtime on a client whose commands ``commands`` hears."""
    runtime: Runtime = c.runtime
    client: AsyncMongoClient[Any] = AsyncMongoClient(
        runtime.settings.mongo_uri,
        tz_aware=True,
        uuidRepresentation="standard",
        event_listeners=[commands],
    )
    db = client[runtime.db.name]
    events = Outbox(db, producer="campaigns")
    return client, dataclasses.replace(runtime, client=client, db=db, events=events)


def _erased(person_id: str) -> PersonErased:
    return PersonErased(client_id=str(uuid.uuid4()), person_id=person_id, erased_at=NOW)


async def _every_query(runtime: Runtime, seed: _Seed, commands: _Commands) -> None:
    repo = ParticipantRepository(runtime)
    event_id = seed.event_id
    first = seed.listed[0]
    person = seed.listed[-2]
    targets = {"event_id": event_id, "status": {"$in": ["planned", "failed"]},
               "added_at": {"$lte": NOW + timedelta(days=1)}}  # fmt: skip
    no_shows = {"event_id": event_id, "status": "accepted", "answer": "accepted",
                "attended_at": None, "no_show_at": None}  # fmt: skip
    newcomer = _participant(event_id, ParticipantStatus.PLANNED, 50)
    calls: dict[str, Callable[[], Awaitable[Any]]] = {
        "page": lambda: repo.page(event_id, status=None, cursor=None, limit=4),
        "page after a cursor": lambda: _second_page(repo, event_id),
        "page of a status": lambda: repo.page(event_id, status="invited", cursor=None, limit=4),
        "next_batch": lambda: repo.next_batch(
            {"event_id": event_id}, after=first.participant_id, limit=4
        ),
        "next_batch of an invitation run": lambda: repo.next_batch(targets, after=None, limit=4),
        "next_batch of the no-shows": lambda: repo.next_batch(no_shows, after=None, limit=4),
        "count": lambda: repo.count(targets),
        "get": lambda: repo.get(event_id, first.participant_id),
        "find": lambda: repo.find(event_id, first.participant_id),
        "by_check_in_code": lambda: repo.by_check_in_code(event_id, str(first.check_in_code)),
        "by_person": lambda: repo.by_person(event_id, seed.person_id),
        "already_listed": lambda: repo.already_listed(event_id, [person.who, "person:nobody"]),
        "insert_many": lambda: repo.insert_many([newcomer, person], {}),
        "waitlisted": lambda: _all(repo.waitlisted(event_id)),
        "count_seat_holders": lambda: repo.count_seat_holders(event_id),
        "by_ids": lambda: repo.by_ids([first.participant_id, person.participant_id], {}),
        "save": lambda: _saved_again(repo, event_id, first.participant_id),
        "erasure": lambda: forget_person(runtime, _erased(seed.person_id)),
        "export": lambda: held_about(runtime, seed.person_id),
    }
    for label, call in calls.items():
        commands.label = label
        await call()


async def _second_page(repo: ParticipantRepository, event_id: str) -> Any:
    page = await repo.page(event_id, status=None, cursor=None, limit=4)
    return await repo.page(event_id, status=None, cursor=page.next_cursor, limit=4)


async def _saved_again(repo: ParticipantRepository, event_id: str, participant_id: str) -> None:
    await repo.save(await repo.get(event_id, participant_id), [])


async def _all(found: Any) -> list[Any]:
    return [p async for p in found]


async def test_every_participants_query_reads_an_index_range_with_no_sort_in_memory(
    campaigns: Campaigns,
) -> None:
    seed = await _seed(campaigns.runtime.db)
    commands = _Commands()
    client, runtime = _watched(campaigns, commands)
    try:
        await _every_query(runtime, seed, commands)
        plans = await _plans(runtime.db, commands.sent)
    finally:
        await client.close()

    assert {label for label, _ in commands.sent} >= {"page", "erasure", "export", "insert_many"}
    for label, stages in plans.items():
        names = _named(stages)
        assert names & _SCANS, (label, names)
        assert "COLLSCAN" not in names, (label, names)
        if label != "by_check_in_code":
            assert "SORT" not in names, (label, names)
    # Every status named, the list in id order is the status index's ranges merged.
    for label in ("page", "page after a cursor", "next_batch"):
        assert "SORT_MERGE" in _named(plans[label]), label
        assert _indexes(plans[label]) == {"event_id_1_status_1__id_1"}, label
    for label in ("erasure", "export", "by_person", "already_listed"):
        assert _indexes(plans[label]) == {"who_1_event_id_1"}, label
    # A person's participations: their key, and the keys beginning with it once removed.
    who = person_who(seed.person_id)
    for label in ("erasure", "export"):
        (scan,) = [s for s in plans[label] if s["stage"] == "IXSCAN"]
        ranges = [f'["{who}", "{who}"]', f'["{who}/removed:", "{who}/removed;")']
        assert scan["indexBounds"]["who"][:2] == ranges, label
    # The one sort: the holders of one check-in code, oldest first (two rarely share one).
    (scan,) = [s for s in plans["by_check_in_code"] if s["stage"] == "IXSCAN"]
    code = str(seed.listed[0].check_in_code)
    assert scan["indexBounds"]["check_in_code"] == [f'["{code}", "{code}"]']


async def test_the_list_without_a_status_is_every_status_in_id_order_page_by_page(
    campaigns: Campaigns,
) -> None:
    seed = await _seed(campaigns.runtime.db)
    repo = ParticipantRepository(campaigns.runtime)
    expected = sorted(p.participant_id for p in seed.listed)
    read: list[str] = []
    cursor: str | None = None
    while True:
        page = await repo.page(seed.event_id, status=None, cursor=cursor, limit=4)
        read += [p.participant_id for p in page.items]
        if (cursor := page.next_cursor) is None:
            break
    walked: list[str] = []
    after: str | None = None
    while batch := await repo.next_batch({"event_id": seed.event_id}, after=after, limit=4):
        walked += [p.participant_id for p in batch]
        after = walked[-1]

    assert read == expected
    assert walked == expected


async def _former_participants(db: AsyncDatabase[Any]) -> None:
    """The participants' collection with the indexes as made before format 1."""
    await db.drop_collection(PARTICIPANTS)
    await db[FORMATS].delete_one({"_id": PARTICIPANTS})
    await db[PARTICIPANTS].create_index([("event_id", 1), ("who", 1)], unique=True)
    await db[PARTICIPANTS].create_index([("event_id", 1), ("_id", 1)])
    await db[PARTICIPANTS].create_index([("event_id", 1), ("status", 1), ("_id", 1)])
    await db[PARTICIPANTS].create_index([("event_id", 1), ("check_in_code", 1)])
    await db[PARTICIPANTS].create_index("person_id", sparse=True)
    await db[PARTICIPANTS].create_index(
        [("event_id", 1), ("added_at", 1), ("_id", 1)],
        name="waiting_list",
        partialFilterExpression={"status": "waitlisted"},
    )


async def _state(db: AsyncDatabase[Any]) -> tuple[list[Any], list[Any]]:
    indexes = [dict(i) async for i in await db[PARTICIPANTS].list_indexes()]
    docs = await db[PARTICIPANTS].find({}, comment=TEST_READ).sort("_id", 1).to_list()
    return indexes, docs


async def test_a_database_with_the_former_indexes_keeps_five_once_and_its_documents(
    campaigns: Campaigns,
) -> None:
    db = campaigns.runtime.db
    await _former_participants(db)
    seed = await _seed(db, former_keys=True)
    assert len(await db[PARTICIPANTS].index_information()) == 7

    await asyncio.gather(create_indexes(db), create_indexes(db))  # two instances at once
    # An index just made by one instance is not yet usable by the other's reads (the store
    # serves them from a snapshot older than the index), which may then read the collection
    # whole, once: the queries after the upgrade are the ones checked for scans.
    await profile_every_operation(db)
    upgraded = await _state(db)
    await create_indexes(db)

    assert {i["name"] for i in upgraded[0]} == INDEXES
    assert await stored_format(db, PARTICIPANTS) == 1
    assert await _state(db) == upgraded
    repo = ParticipantRepository(campaigns.runtime)
    person = seed.listed[-2]
    page = await repo.page(seed.event_id, status=None, cursor=None, limit=100)
    assert [p.participant_id for p in page.items] == sorted(p.participant_id for p in seed.listed)
    found = await repo.by_person(seed.event_id, seed.person_id)
    assert found is not None
    assert found.participant_id == person.participant_id
    assert await repo.already_listed(seed.event_id, [person_who(seed.person_id)]) == {person.who}
    by_code = await repo.by_check_in_code(seed.event_id, str(person.check_in_code))
    assert by_code.participant_id == person.participant_id
    assert [p.participant_id async for p in repo.waitlisted(seed.event_id)] == [
        p.participant_id for p in seed.listed if p.status == ParticipantStatus.WAITLISTED
    ]
    held = await held_about(campaigns.runtime, seed.person_id)
    ids = {person.participant_id, seed.removed.participant_id}
    assert {d["_id"] for d in held["participations"]} == ids
    removed = next(d for d in held["participations"] if d["_id"] == seed.removed.participant_id)
    assert removed["who"] == seed.removed.removed_who

    await forget_person(campaigns.runtime, _erased(seed.person_id))

    erased = await db[PARTICIPANTS].find({"name": ERASED}, comment=TEST_READ).to_list()
    assert {d["_id"] for d in erased} == ids


async def test_a_removal_with_the_former_key_after_the_upgrade_is_rewritten_at_the_next_start(
    campaigns: Campaigns,
) -> None:
    db = campaigns.runtime.db
    await create_indexes(db)
    seed = await _seed(db)
    late = _participant(
        seed.other_event_id, ParticipantStatus.INVITED, 60, person_id=seed.person_id
    )
    # As an instance of the previous version, still running during the upgrade, removes one.
    await db[PARTICIPANTS].insert_one(_doc(late, removed_as=f"removed:{late.participant_id}"))
    before = await held_about(campaigns.runtime, seed.person_id)

    assert await rewrite_former_removed_keys(db) == 1
    await create_indexes(db)  # the next start: nothing left to rewrite
    assert await rewrite_former_removed_keys(db) == 0

    assert late.participant_id not in {d["_id"] for d in before["participations"]}
    held = await held_about(campaigns.runtime, seed.person_id)
    stored = next(d for d in held["participations"] if d["_id"] == late.participant_id)
    assert stored["who"] == late.removed_who
    assert stored["removed"] is True
    await forget_person(campaigns.runtime, _erased(seed.person_id))
    erased = await db[PARTICIPANTS].find_one({"_id": late.participant_id}, comment=TEST_READ)
    assert erased is not None
    assert erased["name"] == ERASED
