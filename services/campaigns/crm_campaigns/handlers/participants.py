"""Participants by hand or by portrait, invitation runs, delivery outcomes, answers and
attendance. Each participant change is one version-guarded write with its events; the
effectiveness counters move only by what the domain says was reached for the first time."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.clock import utc_now
from crm_kit.problems import VersionConflict
from crm_kit.refusals import Refusals
from crm_kit.runtime import Runtime

from crm_campaigns import facts, projections
from crm_campaigns.domain.errors import CampaignsError, EventAtCapacity, UnknownPerson
from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.participants import (
    Participant,
    ParticipantStatus,
    Role,
    scanned_check_in_code,
    takes_a_seat,
)
from crm_campaigns.links import LinkSigner
from crm_campaigns.projections import people as directory
from crm_campaigns.repository import EVENTS
from crm_campaigns.repository.participants import (
    Counters,
    ParticipantRepository,
    Seats,
)
from crm_campaigns.repository.planning import EventRepository, ProgrammeRepository
from crm_campaigns.schemas.participants import AddParticipants, CheckIn, SelectByPortrait
from crm_campaigns.settings import settings_of

log = logging.getLogger(__name__)
NO_SHOWS_MARKED = "no_shows_marked"
BATCH = 500
_ROLE_OF_STATUS = {"partner": Role.PARTNER, "dealer": Role.DEALER}


def _check_in_code() -> str:
    return secrets.token_hex(4).upper()


def signer(runtime: Runtime) -> LinkSigner:
    return LinkSigner(settings_of(runtime).link_secret)


def public_url(runtime: Runtime, path: str) -> str | None:
    base = settings_of(runtime).public_base_url
    return f"{base.rstrip('/')}{path}" if base else None


class Added:
    def __init__(self) -> None:
        self.added: list[Participant] = []
        self.waitlisted = 0
        self.already_listed = 0


async def _add(
    runtime: Runtime,
    event: MarketingEvent,
    candidates: list[Participant],
    *,
    waitlist: bool,
    by_portrait: bool,
    result: Added,
) -> None:
    """Add the candidates not yet on the list (a concurrent add that listed one meanwhile
    keeps it: the insert leaves it out, by the unique (event, who) index)."""
    repo = ParticipantRepository(runtime)
    unique: dict[str, Participant] = {}
    for p in candidates:
        unique.setdefault(p.who, p)
    listed = await repo.already_listed(event.event_id, list(unique))
    fresh = [p for who, p in unique.items() if who not in listed]
    result.already_listed += len(candidates) - len(fresh)
    seats = Seats(runtime)
    takers = [p for p in fresh if takes_a_seat(p.role)]
    granted = len(takers)
    if event.capacity is not None and takers:
        granted = await seats.reserve(event.event_id, event.capacity, len(takers))
        if granted < len(takers) and not waitlist:
            await seats.release(event.event_id, granted)
            raise EventAtCapacity(
                f"event {event.event_id} has {granted} free seats, {len(takers)} were asked for",
                field="body",
            )
    for p in takers[granted:]:
        p.status = ParticipantStatus.WAITLISTED
    now = utc_now()
    inserted = await repo.insert_many(
        fresh,
        {
            p.participant_id: [facts.participants_added(event.event_id, [p], by_portrait, now)]
            for p in fresh
        },
    )
    lost_seats = sum(
        1 for p in takers[:granted] if p.participant_id not in inserted
    )  # a concurrent add listed them first
    await seats.release(event.event_id, lost_seats)
    kept = [p for p in fresh if p.participant_id in inserted]
    result.already_listed += len(fresh) - len(kept)
    result.added.extend(kept)
    result.waitlisted += sum(1 for p in kept if p.status == ParticipantStatus.WAITLISTED)
    planned = sum(1 for p in kept if p.status == ParticipantStatus.PLANNED)
    await Counters(runtime).add(event.event_id, {"planned": planned})


def _person_participant(
    event_id: str, person: dict[str, Any], role: Role, client_status: str | None, now: datetime
) -> Participant:
    return Participant(
        participant_id=str(uuid.uuid4()),
        event_id=event_id,
        kind="person",
        role=role if role else _ROLE_OF_STATUS.get(client_status or "", Role.GUEST),
        status=ParticipantStatus.PLANNED,
        added_at=now,
        person_id=person["_id"],
        client_id=person.get("client_id"),
        name=person.get("name"),
        check_in_code=_check_in_code(),
    )


async def add_participants(runtime: Runtime, event_id: str, body: AddParticipants) -> Added:
    event = await EventRepository(runtime).get(event_id)
    event.ensure_open()
    now = utc_now()
    people = await directory.people(runtime.db, [r.person_id for r in body.people])
    employees = await directory.employees(runtime.db, [r.employee_id for r in body.employees])
    refusals = Refusals(UnknownPerson)  # every unknown one named, not only the first
    for i, ref in enumerate(body.people):
        if ref.person_id not in people or "name" not in people[ref.person_id]:
            with refusals.check():
                raise UnknownPerson(
                    f"person {ref.person_id} is not known to campaigns",
                    field=f"body.people[{i}].person_id",
                )
    for i, eref in enumerate(body.employees):
        if eref.employee_id not in employees:
            with refusals.check():
                raise UnknownPerson(
                    f"employee {eref.employee_id} is not known to campaigns",
                    field=f"body.employees[{i}].employee_id",
                )
    refusals.raise_if_any()
    statuses = await projections.client_statuses(
        runtime.db, [p.get("client_id", "") for p in people.values()]
    )
    candidates = [
        _person_participant(
            event_id,
            people[ref.person_id],
            ref.role
            or _ROLE_OF_STATUS.get(
                statuses.get(people[ref.person_id].get("client_id", ""), ""), Role.GUEST
            ),
            None,
            now,
        )
        for ref in body.people
    ]
    candidates += [
        Participant(
            participant_id=str(uuid.uuid4()),
            event_id=event_id,
            kind="employee",
            role=eref.role,
            status=ParticipantStatus.PLANNED,
            added_at=now,
            employee_id=eref.employee_id,
            name=employees[eref.employee_id].get("name"),
            check_in_code=_check_in_code(),
        )
        for eref in body.employees
    ]
    result = Added()
    await _add(runtime, event, candidates, waitlist=body.waitlist, by_portrait=False, result=result)
    return result


async def select_by_portrait(runtime: Runtime, event_id: str, body: SelectByPortrait) -> Added:
    """People of clients matching the programme's portrait who consented on any channel."""
    event = await EventRepository(runtime).get(event_id)
    event.ensure_open()
    if event.programme_id is None:
        raise CampaignsError(
            "the event belongs to no programme, so it has no portrait", field="programme_id"
        )
    portrait = (await ProgrammeRepository(runtime).get(event.programme_id)).portrait
    result = Added()
    now = utc_now()
    client_ids = [
        c["_id"]
        async for c in projections.matching_clients(
            runtime.db, projections.portrait_query(portrait)
        )
    ]
    async for group in directory.consenting_people(runtime.db, client_ids, BATCH):
        candidates = [_person_participant(event_id, p, body.role, None, now) for p in group]
        await _add(
            runtime, event, candidates, waitlist=body.waitlist, by_portrait=True, result=result
        )
    return result


async def remove_participant(runtime: Runtime, event_id: str, participant_id: str) -> None:
    repo = ParticipantRepository(runtime)
    p = await repo.get(event_id, participant_id)
    now = utc_now()
    held_seat = p.holds_seat
    await repo.save(
        p,
        [facts.participant_removed(p, now)],
        extra={"removed": True, "removed_at": now, "who": p.removed_who},
    )
    if p.status != ParticipantStatus.WAITLISTED and p.invited_at is None:
        await Counters(runtime).add(event_id, {"planned": -1})
    if held_seat:
        await seat_freed(runtime, event_id)


async def seat_freed(runtime: Runtime, event_id: str) -> None:
    """A seat holder left (removed, or declined): the seat goes to the waiting list."""
    event = await EventRepository(runtime).get(event_id)
    if event.capacity is None:
        return
    await Seats(runtime).release(event_id, 1)
    await promote_waitlisted(runtime, event)


async def promote_waitlisted(runtime: Runtime, event: MarketingEvent) -> int:
    """Fill free seats from the waiting list, longest waiting first; returns how many moved.

    The waiting list is read in its order from its own index, only as far as seats are
    free. Each promotion reserves its seat first and is a version-guarded write, so
    concurrent promotions (or adds) cannot give one seat twice; a promoted participant is
    planned (ParticipantPromoted, written with the new state) and is invited by the next
    invitation run."""
    if event.status.value != "scheduled":
        return 0
    repo = ParticipantRepository(runtime)
    seats = Seats(runtime)
    # With no capacity (any more), everyone waiting comes in.
    limited = event.capacity is not None
    promoted = 0
    async for waiting in repo.waitlisted(event.event_id):
        if limited and await seats.reserve(event.event_id, event.capacity or 0, 1) == 0:
            break
        candidate: Participant | None = waiting
        reached: dict[str, int] = {}
        for _ in range(5):
            assert candidate is not None
            reached = candidate.promote()
            if not reached:
                candidate = None  # someone else moved them meanwhile
                break
            try:
                await repo.save(candidate, [facts.participant_promoted(candidate, utc_now())])
                break
            except VersionConflict:
                candidate = await repo.find(event.event_id, candidate.participant_id)
                if candidate is None:
                    break
        else:
            candidate = None
        if candidate is None:
            if limited:
                await seats.release(event.event_id, 1)
            continue
        await Counters(runtime).add(event.event_id, reached)
        promoted += 1
    return promoted


async def seats_held(runtime: Runtime, event_id: str, *, counted: bool) -> int:
    """Seats taken: the kept counter while the event has a capacity, else a count."""
    if counted:
        return await Seats(runtime).taken(event_id)
    return await ParticipantRepository(runtime).count_seat_holders(event_id)


async def capacity_changed(
    runtime: Runtime, event: MarketingEvent, *, counted_before: bool
) -> None:
    """After a capacity change: the seat counter starts when a capacity is first set, and
    free seats (or no limit at all) go to the waiting list."""
    if event.capacity is not None and not counted_before:
        await Seats(runtime).set(
            event.event_id, await ParticipantRepository(runtime).count_seat_holders(event.event_id)
        )
    await promote_waitlisted(runtime, event)


async def mark_no_shows(runtime: Runtime, event_id: str) -> int:
    """Once the event is completed: everyone who accepted and was not seen is a no-show.
    Idempotent (a participant is marked once), so it can run again after an interruption.
    They are read a page at a time in ``_id`` order and marked by version-guarded writes;
    each no-show is published as AttendanceRecorded (not attended) with its new state."""
    repo = ParticipantRepository(runtime)
    marked = 0
    now = utc_now()
    query = {"event_id": event_id, "status": ParticipantStatus.ACCEPTED.value,
             "answer": "accepted", "attended_at": None, "no_show_at": None}  # fmt: skip
    after: str | None = None
    while batch := await repo.next_batch(query, after=after, limit=BATCH):
        after = batch[-1].participant_id
        changed: list[tuple[Participant, Sequence[ContractEvent], dict[str, Any]]] = []
        for p in batch:
            if p.mark_no_show(now):
                changed.append((p, [facts.no_show_recorded(p)], {}))
        written = await repo.save_many(changed)
        await Counters(runtime).add(event_id, {"no_show": len(written)})
        marked += len(written)
    await runtime.db[EVENTS].update_one({"_id": event_id}, {"$set": {NO_SHOWS_MARKED: True}})
    return marked


async def mark_pending_no_shows(runtime: Runtime) -> None:
    """Finish the no-show marking of any completed event a stopped process left unmarked."""
    events = runtime.db[EVENTS]
    pending = await events.find(
        {"status": "completed", NO_SHOWS_MARKED: {"$ne": True}}, {"_id": 1}
    ).to_list()
    for doc in pending:
        await mark_no_shows(runtime, doc["_id"])


# -- facts about one participant ----------------------------------------------------------------
async def change_participant(
    runtime: Runtime,
    event_id: str,
    participant_id: str | None,
    act: Callable[[Participant], tuple[dict[str, int], list[ContractEvent]]],
    *,
    find: Callable[[ParticipantRepository], Any] | None = None,
) -> Participant:
    """Load, act, write guarded by version (retrying a lost race), then move the counters."""
    repo = ParticipantRepository(runtime)
    for attempt in range(5):
        if find is not None:
            p: Participant = await find(repo)
        else:
            assert participant_id is not None
            p = await repo.get(event_id, participant_id)
        reached, out = act(p)
        if not reached and not out:
            return p
        try:
            await repo.save(p, out)
        except VersionConflict:
            if attempt == 4:
                raise
            continue
        await Counters(runtime).add(event_id, reached)
        p.version += 1
        return p
    raise AssertionError("unreachable")  # pragma: no cover


async def delivery_reported(
    runtime: Runtime, event_id: str, participant_id: str, at: datetime, *, delivered: bool
) -> None:
    def act(p: Participant) -> tuple[dict[str, int], list[ContractEvent]]:
        return (p.delivered(at) if delivered else p.failed(at)), []

    await change_participant(runtime, event_id, participant_id, act)


async def answer(runtime: Runtime, event_id: str, participant_id: str, reply: str) -> Participant:
    held: list[bool] = []

    def act(p: Participant) -> tuple[dict[str, int], list[ContractEvent]]:
        held.append(p.holds_seat)
        reached = p.answer_invitation(reply, utc_now())
        return reached, [facts.invitation_answered(p)]

    p = await change_participant(runtime, event_id, participant_id, act)
    if held and held[-1] and not p.holds_seat:
        await seat_freed(runtime, event_id)  # a decline gives the seat to the waiting list
    return p


def _attend(method: str) -> Callable[[Participant], tuple[dict[str, int], list[ContractEvent]]]:
    def act(p: Participant) -> tuple[dict[str, int], list[ContractEvent]]:
        now = utc_now()
        reached = p.attend(now)
        return reached, ([facts.attendance_recorded(p, method, now)] if reached else [])

    return act


async def check_in(runtime: Runtime, event_id: str, body: CheckIn) -> Participant:
    event = await EventRepository(runtime).get(event_id)
    if event.status.value == "cancelled":
        event.ensure_open()
    if body.participant_id:
        return await change_participant(runtime, event_id, body.participant_id, _attend("check_in"))
    if body.code:
        code = scanned_check_in_code(body.code)
        if not code:
            raise CampaignsError("the scanned value holds no check-in code", field="code")

        async def by_code(repo: ParticipantRepository) -> Participant:
            return await repo.by_check_in_code(event_id, code)

        return await change_participant(
            runtime, event_id, None, _attend("invitation_code"), find=by_code
        )
    raise CampaignsError("give a participant_id or a check-in code", field="body")


async def attendance_inferred(runtime: Runtime, event_id: str, person_id: str, method: str) -> None:
    """A questionnaire or a manager's contact record shows the person was there."""
    repo = ParticipantRepository(runtime)
    if await repo.by_person(event_id, person_id) is None:
        return

    async def by_person(r: ParticipantRepository) -> Participant:
        found = await r.by_person(event_id, person_id)
        assert found is not None
        return found

    await change_participant(runtime, event_id, None, _attend(method), find=by_person)
