"""Participants (one document each), seats, invitation runs and effectiveness counters."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.bulk import guarded_updates
from crm_kit.outbox import VERSION
from crm_kit.runtime import Runtime
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_campaigns.domain.errors import UnknownParticipant
from crm_campaigns.domain.participants import Participant, ParticipantStatus, person_who
from crm_campaigns.repository import (
    EFFECTIVENESS,
    EVENTS,
    INVITATION_RUNS,
    PARTICIPANTS,
)
from crm_campaigns.repository.documents import participant_changes, participant_doc, participant_of
from crm_campaigns.repository.pagination import after, next_cursor
from crm_campaigns.repository.planning import Page

ACTIVE = {"removed": {"$ne": True}}
BY_STATUS = [("event_id", 1), ("status", 1), ("_id", 1)]
"""The index of an event's list by status, and in ``_id`` order: with every status named, the
ranges of the statuses merged, with no sort in memory. Reads in ``_id`` order name it, as the
``_id`` index gives that order too and the planner picks it past a cursor on a small
collection, a plan that, cached, walks every event's participants after the cursor."""
ANY_STATUS = {"$in": [s.value for s in ParticipantStatus]}
LAST_WRITE = "last_write"


class ParticipantRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.outbox(PARTICIPANTS, "participant")
        self.collection = self.store.collection

    async def already_listed(self, event_id: str, whos: Sequence[str]) -> set[str]:
        found = self.collection.find({"event_id": event_id, "who": {"$in": list(whos)}}, {"who": 1})
        return {d["who"] async for d in found}

    async def insert_many(
        self, participants: Sequence[Participant], facts: Mapping[str, Sequence[ContractEvent]]
    ) -> set[str]:
        """Insert with each one's events; returns the ids inserted. One already stored (a
        redelivery), or whose person or employee is already on the event's list (a concurrent
        add listed them first), is left out."""
        if not participants:
            return set()
        docs = {p.participant_id: {"_id": p.participant_id, **participant_doc(p), VERSION: 1}
                for p in participants}  # fmt: skip
        events = self.runtime.events

        async def work(session: AsyncClientSession) -> set[str]:
            # A duplicate key would abort the transaction, so what is taken is read first; a
            # concurrent add not yet committed conflicts instead, and the work runs again.
            ids = self.collection.find({"_id": {"$in": list(docs)}}, {"_id": 1}, session=session)
            stored = {d["_id"] async for d in ids}
            listed = self.collection.find(
                {"event_id": {"$in": sorted({p.event_id for p in participants})},
                 "who": {"$in": sorted({p.who for p in participants})}},
                {"event_id": 1, "who": 1},
                session=session,
            )  # fmt: skip
            taken = {(d["event_id"], d["who"]) async for d in listed}
            new: list[dict[str, Any]] = []
            for pid, doc in docs.items():
                if pid not in stored and (doc["event_id"], doc["who"]) not in taken:
                    taken.add((doc["event_id"], doc["who"]))
                    new.append(doc)
            if new:
                await self.collection.insert_many(new, ordered=True, session=session)
            await events.add(
                session,
                [e for doc in new for e in events.entries(facts.get(doc["_id"], ()))],
            )
            return {doc["_id"] for doc in new}

        return await events.transaction(work)

    async def get(self, event_id: str, participant_id: str) -> Participant:
        doc = await self.collection.find_one(
            {"_id": participant_id, "event_id": event_id, **ACTIVE}
        )
        if doc is None:
            raise UnknownParticipant(
                f"event {event_id} has no participant {participant_id}", field="participant_id"
            )
        return participant_of(doc)

    async def find(self, event_id: str, participant_id: str) -> Participant | None:
        doc = await self.collection.find_one(
            {"_id": participant_id, "event_id": event_id, **ACTIVE}
        )
        return participant_of(doc) if doc is not None else None

    async def by_check_in_code(self, event_id: str, code: str) -> Participant:
        """The active participant holding ``code`` (codes are random: should two share one,
        the one added first)."""
        doc = await self.collection.find_one(
            {"event_id": event_id, "check_in_code": code.strip().upper(), **ACTIVE},
            sort=[("added_at", 1), ("_id", 1)],
        )
        if doc is None:
            raise UnknownParticipant(f"no participant has check-in code {code}", field="code")
        return participant_of(doc)

    async def by_person(self, event_id: str, person_id: str) -> Participant | None:
        # A removed participant's natural key is rewritten, so this is the one on the list.
        doc = await self.collection.find_one({"event_id": event_id, "who": person_who(person_id)})
        return participant_of(doc) if doc is not None else None

    async def save(
        self,
        participant: Participant,
        facts: Sequence[ContractEvent],
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the participant's state guarded by the version it was read at."""
        changes = {**participant_changes(participant), **(extra or {})}
        await self.store.update(
            participant.participant_id,
            {"$set": changes} if changes else {},
            facts,
            expected_version=participant.version,
        )

    async def page(
        self, event_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[Participant]:
        query: dict[str, Any] = {"event_id": event_id, "status": status or ANY_STATUS, **ACTIVE}
        query.update(after("_id", cursor))
        found = self.collection.find(query).sort("_id", 1).hint(BY_STATUS).limit(limit)
        docs = await found.to_list()
        return Page([participant_of(d) for d in docs], next_cursor(docs, "_id", limit))

    async def count(self, query: Mapping[str, Any]) -> int:
        """How many active participants match ``query`` (which names the event)."""
        return await self.collection.count_documents({**query, **ACTIVE})

    async def next_batch(
        self, query: Mapping[str, Any], *, after: str | None, limit: int
    ) -> list[Participant]:
        """The next ``limit`` active participants matching ``query`` (which names the event, and
        the statuses, or else every status is meant) in ``_id`` order after ``after``: a walk
        through an event's list that can stop and resume anywhere, served by the (event,
        status, id) index."""
        where: dict[str, Any] = {"status": ANY_STATUS, **query, **ACTIVE}
        if after is not None:
            where["_id"] = {"$gt": after}
        found = self.collection.find(where).sort("_id", 1).hint(BY_STATUS).limit(limit)
        return [participant_of(d) async for d in found]

    async def by_ids(self, ids: Sequence[str], query: Mapping[str, Any]) -> list[Participant]:
        """The participants among ``ids`` still matching ``query``, in the order of ``ids``."""
        docs = await self.collection.find({"_id": {"$in": list(ids)}, **query, **ACTIVE}).to_list()
        by_id = {d["_id"]: d for d in docs}
        return [participant_of(by_id[i]) for i in ids if i in by_id]

    async def waitlisted(self, event_id: str) -> AsyncIterator[Participant]:
        """Everyone on the waiting list, longest waiting first, read as far as the caller goes
        (from the waiting list's own index)."""
        waiting = self.collection.find(
            {"event_id": event_id, "status": "waitlisted", **ACTIVE}
        ).sort([("added_at", 1), ("_id", 1)])
        async for doc in waiting:
            yield participant_of(doc)

    async def count_seat_holders(self, event_id: str) -> int:
        return await self.collection.count_documents(
            {
                "event_id": event_id,
                "role": {"$ne": "staff"},
                "status": {"$ne": "waitlisted"},
                "answer": {"$ne": "declined"},
                **ACTIVE,
            }
        )

    async def save_many(
        self, changed: Sequence[tuple[Participant, Sequence[ContractEvent], Mapping[str, Any]]]
    ) -> set[str]:
        """Version-guarded writes, each with its events; returns the ids written.

        One bulk command and the events of the participants it changed, in one transaction.
        Every statement stamps the write's id, so when a guard missed (someone changed the
        participant meanwhile) the ones that did land are told apart by one lookup, and only
        their events are stored."""
        if not changed:
            return set()
        events = self.runtime.events
        stamp = uuid.uuid4().hex
        # Participants at one version given the same changes (a batch invited at one moment)
        # share one statement (crm_kit.bulk).
        ops = guarded_updates(
            (
                p.participant_id,
                {VERSION: p.version},
                {
                    "$set": {**participant_changes(p), **extra, LAST_WRITE: stamp},
                    "$inc": {VERSION: 1},
                },
            )
            for p, _, extra in changed
        )
        ids = [p.participant_id for p, _, _ in changed]

        async def work(session: AsyncClientSession) -> set[str]:
            result = await self.collection.bulk_write(ops, ordered=False, session=session)
            if result.modified_count == len(ids):
                written = set(ids)
            else:
                landed = self.collection.find(
                    {"_id": {"$in": ids}, LAST_WRITE: stamp}, {"_id": 1}, session=session
                )
                written = {d["_id"] async for d in landed}
            entries = [
                e
                for p, facts, _ in changed
                if p.participant_id in written
                for e in events.entries(facts)
            ]
            await events.add(session, entries)
            return written

        return await events.transaction(work)


class Seats:
    """Seats taken at an event, reserved atomically so concurrent adds cannot overbook."""

    def __init__(self, runtime: Runtime) -> None:
        self.events = runtime.db[EVENTS]

    async def reserve(self, event_id: str, capacity: int, wanted: int) -> int:
        """Reserve up to ``wanted`` seats; returns how many were free and are now taken."""
        for _ in range(20):
            doc = await self.events.find_one({"_id": event_id}, {"seats_taken": 1})
            taken = int((doc or {}).get("seats_taken", 0))
            granted = max(0, min(wanted, capacity - taken))
            if granted == 0:
                return 0
            # A missing counter (no seat taken yet) reads as 0.
            current: Any = taken if taken else {"$in": [0, None]}
            done = await self.events.find_one_and_update(
                {"_id": event_id, "seats_taken": current},
                {"$inc": {"seats_taken": granted}},
                return_document=ReturnDocument.AFTER,
            )
            if done is not None:
                return granted
        return 0

    async def release(self, event_id: str, count: int) -> None:
        if count > 0:
            await self.events.update_one({"_id": event_id}, {"$inc": {"seats_taken": -count}})

    async def set(self, event_id: str, taken: int) -> None:
        await self.events.update_one({"_id": event_id}, {"$set": {"seats_taken": taken}})

    async def taken(self, event_id: str) -> int:
        doc = await self.events.find_one({"_id": event_id}, {"seats_taken": 1})
        return int((doc or {}).get("seats_taken", 0))


class Counters:
    """The effectiveness counters of each event, moved by the use cases as facts arrive."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[EFFECTIVENESS]

    async def add(self, event_id: str, deltas: Mapping[str, int]) -> None:
        changes = {str(k): int(v) for k, v in deltas.items() if v}
        if changes:
            await self.collection.update_one({"_id": event_id}, {"$inc": changes}, upsert=True)

    async def get(self, event_id: str) -> dict[str, int]:
        doc = await self.collection.find_one({"_id": event_id}) or {}
        return {k: int(v) for k, v in doc.items() if k != "_id"}


class InvitationRuns:
    """Runs and their cursors. A run works through the participants in its statuses that
    were added before it was asked for, in ``_id`` order; its cursor (``after``, the last id
    done) moves with each page, so a run stopped anywhere resumes there."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[INVITATION_RUNS]

    async def create(self, doc: dict[str, Any]) -> None:
        await self.collection.insert_one(doc)

    async def get(self, event_id: str, run_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": run_id, "event_id": event_id})

    async def pending(self) -> list[dict[str, Any]]:
        return (
            await self.collection.find({"state": {"$in": ["queued", "running"]}})
            .sort("created_at", 1)
            .to_list()
        )

    async def planned(self, run_id: str, *, total: int) -> None:
        """The run's participants are counted: record how many, and start its cursor."""
        await self.collection.update_one(
            {"_id": run_id},
            {"$set": {"state": "running", "total": total, "after": None, "processed": 0}},
        )

    async def progress(self, run_id: str, *, after: str, processed: int, invited: int) -> None:
        """Move the cursor past what was just done. ``processed`` is absolute, so a page done
        again after a crash is not counted twice; ``invited`` grows only by what was written
        now, which a page done again does not repeat."""
        await self.collection.update_one(
            {"_id": run_id},
            {
                "$set": {"state": "running", "after": after, "processed": processed},
                "$inc": {"invited": invited},
            },
        )

    async def finish(self, run_id: str, at: datetime, *, processed: int) -> None:
        await self.collection.update_one(
            {"_id": run_id},
            {"$set": {"state": "done", "finished_at": at, "processed": processed}},
        )
