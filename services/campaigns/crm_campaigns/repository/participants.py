"""Participants (one document each), seats, invitation runs and effectiveness counters."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.outbox import OUTBOX, VERSION, outbox_entry
from crm_kit.runtime import Runtime
from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from crm_campaigns.domain.errors import UnknownParticipant
from crm_campaigns.domain.participants import Participant
from crm_campaigns.repository import (
    EFFECTIVENESS,
    EVENTS,
    INVITATION_CHUNKS,
    INVITATION_RUNS,
    KEYS_KEPT,
    PARTICIPANT_KEYS,
    PARTICIPANTS,
    WAITING,
)
from crm_campaigns.repository.documents import participant_doc, participant_of
from crm_campaigns.repository.pagination import after, next_cursor
from crm_campaigns.repository.planning import Page

ACTIVE = {"removed": {"$ne": True}}
WRITE_CHUNK = 50
"""Statements per bulk command (docs/decisions/0002: at most 20-50 on FerretDB v1)."""
LAST_WRITE = "last_write"
SCAN_BATCH = 10_000
"""Documents per reply when only ids or keys are read (fewer round trips of a long scan)."""
CHUNK = 500
"""Participant ids per invitation-run chunk document: the most one ``_id $in`` narrows by
index on the local FerretDB (docs/decisions/0002), and a bounded document size."""


class ParticipantRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.outbox(PARTICIPANTS, "participant")
        self.collection = self.store.collection
        self.producer = runtime.settings.service_name
        self.keys = runtime.db[PARTICIPANT_KEYS]
        self.events = runtime.db[EVENTS]

    async def already_listed(self, event_id: str, whos: Sequence[str]) -> set[str]:
        found = self.collection.find({"event_id": event_id, "who": {"$in": list(whos)}}, {"who": 1})
        return {d["who"] async for d in found}

    async def insert_many(
        self, participants: Sequence[Participant], facts: Mapping[str, Sequence[ContractEvent]]
    ) -> set[str]:
        """Insert with each one's events; returns the ids inserted (duplicates are skipped)."""
        if not participants:
            return set()
        docs = [
            {
                "_id": p.participant_id,
                **participant_doc(p),
                VERSION: 1,
                OUTBOX: [
                    outbox_entry(e, producer=self.producer) for e in facts.get(p.participant_id, ())
                ],
            }
            for p in participants
        ]
        inserted = {d["_id"] for d in docs}
        # The keys first: a key whose participant was never written only costs a lookup.
        await self._insert_keys(participants)
        for start in range(0, len(docs), WRITE_CHUNK):
            chunk = docs[start : start + WRITE_CHUNK]
            try:
                await self.collection.insert_many(chunk, ordered=False)
            except BulkWriteError as exc:
                for error in exc.details.get("writeErrors", []):
                    if error.get("code") != 11000:
                        raise
                    inserted.discard(chunk[error["index"]]["_id"])
        self._wake(i for i in inserted if facts.get(i))
        return inserted

    async def _insert_keys(self, participants: Sequence[Participant]) -> None:
        """One key document per natural key and per check-in code (``<event>|<key>``, read by
        ``_id``), so a check-in by code or an attendance inferred for a person needs no scan
        of the participants. A key already held by someone else stays theirs."""
        keys = [
            {"_id": f"{p.event_id}|{key}", "participant_id": p.participant_id}
            for p in participants
            for key in (p.who, f"code:{p.check_in_code}" if p.check_in_code else None)
            if key
        ]
        for start in range(0, len(keys), WRITE_CHUNK):
            try:
                await self.keys.insert_many(keys[start : start + WRITE_CHUNK], ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    async def forget_key(self, participant: Participant) -> None:
        """A removed participant frees their natural key for whoever is added next."""
        await self.keys.delete_one(
            {"_id": f"{participant.event_id}|{participant.who}",
             "participant_id": participant.participant_id}
        )  # fmt: skip

    async def _by_key(
        self, event_id: str, key: str, query: Mapping[str, Any]
    ) -> tuple[bool, Participant | None]:
        """(answered, participant) from the key documents; not answered when the event keeps
        no keys, or the key points at someone it no longer fits (then only a scan can tell)."""
        event = await self.events.find_one({"_id": event_id}, {KEYS_KEPT: 1})
        if not (event or {}).get(KEYS_KEPT):
            return False, None
        found = await self.keys.find_one({"_id": f"{event_id}|{key}"})
        if found is None:
            return True, None
        doc = await self.collection.find_one(
            {"_id": found["participant_id"], "event_id": event_id, **query}, {OUTBOX: 0}
        )
        return (True, participant_of(doc)) if doc is not None else (False, None)

    def _wake(self, ids: Any) -> None:
        """Tell the relay which documents carry new events; it reads them in batches by
        ``_id $in``, which the local FerretDB answers from the ``_id`` index (0002)."""
        for participant_id in ids:
            self.runtime.relay.wake(PARTICIPANTS, participant_id)

    async def get(self, event_id: str, participant_id: str) -> Participant:
        doc = await self.collection.find_one(
            {"_id": participant_id, "event_id": event_id, **ACTIVE}, {OUTBOX: 0}
        )
        if doc is None:
            raise UnknownParticipant(
                f"event {event_id} has no participant {participant_id}", field="participant_id"
            )
        return participant_of(doc)

    async def find(self, event_id: str, participant_id: str) -> Participant | None:
        doc = await self.collection.find_one(
            {"_id": participant_id, "event_id": event_id, **ACTIVE}, {OUTBOX: 0}
        )
        return participant_of(doc) if doc is not None else None

    async def by_check_in_code(self, event_id: str, code: str) -> Participant:
        query = {"check_in_code": code.strip().upper(), **ACTIVE}
        answered, found = await self._by_key(event_id, f"code:{query['check_in_code']}", query)
        if answered:
            if found is None:
                raise UnknownParticipant(f"no participant has check-in code {code}", field="code")
            return found
        doc = await self.collection.find_one({"event_id": event_id, **query}, {OUTBOX: 0})
        if doc is None:
            raise UnknownParticipant(f"no participant has check-in code {code}", field="code")
        return participant_of(doc)

    async def by_person(self, event_id: str, person_id: str) -> Participant | None:
        who = f"person:{person_id}"
        answered, found = await self._by_key(event_id, who, {"who": who})
        if answered:
            return found
        doc = await self.collection.find_one(
            {"event_id": event_id, "who": f"person:{person_id}"}, {OUTBOX: 0}
        )
        return participant_of(doc) if doc is not None else None

    async def save(
        self,
        participant: Participant,
        facts: Sequence[ContractEvent],
        *,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the participant's state guarded by the version it was read at."""
        await self.store.update(
            participant.participant_id,
            {"$set": {**participant_doc(participant), **(extra or {})}},
            facts,
            expected_version=participant.version,
        )

    async def page(
        self, event_id: str, *, status: str | None, cursor: str | None, limit: int
    ) -> Page[Participant]:
        query: dict[str, Any] = {"event_id": event_id, **ACTIVE}
        if status is not None:
            query["status"] = status
        query.update(after("_id", cursor))
        docs = await self.collection.find(query, {OUTBOX: 0}).sort("_id", 1).limit(limit).to_list()
        return Page([participant_of(d) for d in docs], next_cursor(docs, "_id", limit))

    async def ids(self, query: Mapping[str, Any]) -> list[str]:
        """The ids of this event's active participants matching ``query``, in ``_id`` order.

        One scan of the collection with a projection, read to the end: FerretDB evaluates a
        filter that is not on ``_id`` over every document (docs/decisions/0002), so code that
        walks many participants reads their ids once and then fetches them by ``_id $in``."""
        found = self.collection.find({**query, **ACTIVE}, {"_id": 1}, batch_size=SCAN_BATCH)
        return sorted([d["_id"] async for d in found])

    async def by_ids(self, ids: Sequence[str], query: Mapping[str, Any]) -> list[Participant]:
        """The participants among ``ids`` (at most :data:`CHUNK`) still matching ``query``,
        in the order of ``ids``; narrowed by the ``_id`` index, the rest filtered on the way."""
        docs = await self.collection.find(
            {"_id": {"$in": list(ids)}, **query, **ACTIVE}, {OUTBOX: 0}, batch_size=len(ids) + 1
        ).to_list()
        by_id = {d["_id"]: d for d in docs}
        return [participant_of(by_id[i]) for i in ids if i in by_id]

    async def listed(self, event_id: str) -> set[str]:
        """Every natural key (``who``) on the event's list, removed ones included, in one scan."""
        found = self.collection.find({"event_id": event_id}, {"who": 1}, batch_size=SCAN_BATCH)
        return {str(d.get("who")) async for d in found}

    async def waitlisted(self, event_id: str) -> list[Participant]:
        """Everyone on the waiting list, longest waiting first, in one scan."""
        docs = await self.collection.find(
            {"event_id": event_id, "status": "waitlisted", **ACTIVE}, {OUTBOX: 0}
        ).to_list()
        docs.sort(key=lambda d: (d["added_at"], d["_id"]))
        return [participant_of(d) for d in docs]

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

        One single-document update per participant (its state and its events together), sent
        :data:`WRITE_CHUNK` to a command: FerretDB v1 serves each ``_id`` statement directly
        but slows sharply on long multi-statement commands (docs/decisions/0002). Every
        statement stamps the chunk's write id, so when a guard missed (someone changed the
        participant meanwhile) the ones that did land are told apart by one lookup."""
        written: set[str] = set()
        for start in range(0, len(changed), WRITE_CHUNK):
            chunk = changed[start : start + WRITE_CHUNK]
            stamp = uuid.uuid4().hex
            ops: list[UpdateOne] = []
            for p, events, extra in chunk:
                update: dict[str, Any] = {
                    "$set": {**participant_doc(p), **extra, LAST_WRITE: stamp},
                    "$inc": {VERSION: 1},
                }
                if events:
                    entries = [outbox_entry(e, producer=self.producer) for e in events]
                    update["$push"] = {OUTBOX: {"$each": entries}}
                ops.append(UpdateOne({"_id": p.participant_id, VERSION: p.version}, update))
            ids = [p.participant_id for p, _, _ in chunk]
            result = await self.collection.bulk_write(ops, ordered=False)
            if result.modified_count == len(ops):
                written.update(ids)
            else:
                landed = self.collection.find({"_id": {"$in": ids}, LAST_WRITE: stamp}, {"_id": 1})
                written.update([d["_id"] async for d in landed])
        self._wake(p.participant_id for p, ev, _ in changed if ev and p.participant_id in written)
        return written


class Seats:
    """Seats taken at an event, reserved atomically so concurrent adds cannot overbook; and
    how many wait for one, so a freed seat looks for them only when someone waits."""

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

    async def waiting(self, event_id: str) -> int | None:
        """How many wait on the event's list by the kept count (``None`` when the event has
        none yet). It may run above the truth (a process stopped between a promotion and
        its count), never below: adds count before they write, the rest after."""
        doc = await self.events.find_one({"_id": event_id}, {WAITING: 1})
        value = (doc or {}).get(WAITING)
        return int(value) if value is not None else None

    async def count_waiting(self, event_id: str, delta: int) -> None:
        if delta:
            await self.events.update_one(
                {"_id": event_id, WAITING: {"$exists": True}}, {"$inc": {WAITING: delta}}
            )

    async def none_waiting(self, event_id: str, read: int) -> None:
        """Nobody was found waiting: reset the count, unless it moved since it was read."""
        await self.events.update_one({"_id": event_id, WAITING: read}, {"$set": {WAITING: 0}})

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
    """Runs and their chunks. The ids a run works through are fixed when it starts and kept in
    chunk documents of at most :data:`CHUNK` ids (``<run id>:<n>``, read by ``_id``), so no
    document grows with the number of participants; the run's cursor is (chunk, position)."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[INVITATION_RUNS]
        self.chunks = runtime.db[INVITATION_CHUNKS]

    async def create(self, doc: dict[str, Any]) -> None:
        await self.collection.insert_one(doc)

    async def write_chunks(self, run_id: str, ids: Sequence[str]) -> int:
        """Store ``ids`` as the run's chunks (replacing any a stopped start left); returns
        how many chunks there are."""
        docs = [
            {
                "_id": f"{run_id}:{n}",
                "run_id": run_id,
                "n": n,
                "ids": list(ids[start : start + CHUNK]),
            }
            for n, start in enumerate(range(0, len(ids), CHUNK))
        ]
        for doc in docs:
            await self.chunks.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return len(docs)

    async def chunk(self, run_id: str, n: int) -> list[str]:
        doc = await self.chunks.find_one({"_id": f"{run_id}:{n}"})
        return list(doc["ids"]) if doc else []

    async def get(self, event_id: str, run_id: str) -> dict[str, Any] | None:
        return await self.collection.find_one({"_id": run_id, "event_id": event_id})

    async def pending(self) -> list[dict[str, Any]]:
        return (
            await self.collection.find({"state": {"$in": ["queued", "running"]}})
            .sort("created_at", 1)
            .to_list()
        )

    async def planned(self, run_id: str, *, chunks: int, total: int) -> None:
        """The run's chunks are written: record how many, and start its cursor."""
        await self.collection.update_one(
            {"_id": run_id},
            {
                "$set": {
                    "state": "running",
                    "chunks": chunks,
                    "total": total,
                    "chunk": 0,
                    "position": 0,
                }
            },
        )

    async def progress(
        self, run_id: str, *, chunk: int, position: int, processed: int, invited: int
    ) -> None:
        """Move the cursor past what was just done. ``processed`` is absolute (the ids before
        the cursor), so a page done again after a crash is not counted twice; ``invited``
        grows only by what was written now, which a page done again does not repeat."""
        await self.collection.update_one(
            {"_id": run_id},
            {
                "$set": {
                    "state": "running",
                    "chunk": chunk,
                    "position": position,
                    "processed": processed,
                },
                "$inc": {"invited": invited},
            },
        )

    async def finish(self, run_id: str, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": run_id}, {"$set": {"state": "done", "finished_at": at}}
        )
