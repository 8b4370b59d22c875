"""Invitation runs: started with a 202 and worked through by a background worker, a batch at
a time, each participant's new state written with its InvitationRequested.

A run keeps the correlation id of the request that started it, and every InvitationRequested
it writes carries that id (so notify's messages and their outcomes do too): the caller can
follow one request to every invitation it caused."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.clock import utc_now
from crm_kit.logs import correlation_id, current_correlation_id, new_correlation_id
from crm_kit.runtime import Runtime

from crm_campaigns import facts
from crm_campaigns.domain.participants import Participant
from crm_campaigns.handlers.participants import (
    BATCH,
    mark_pending_no_shows,
    public_url,
    signer,
)
from crm_campaigns.links import LinkPurpose
from crm_campaigns.projections import people as directory
from crm_campaigns.repository.participants import (
    Counters,
    InvitationRuns,
    ParticipantRepository,
)
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.settings import settings_of


def _targets(run: dict[str, Any]) -> dict[str, Any]:
    """The run's participants: in its statuses, and added before it was asked for (someone
    added later waits for the next run)."""
    return {
        "event_id": run["event_id"],
        "status": {"$in": list(run["statuses"])},
        "added_at": {"$lte": run["created_at"]},
    }


async def start_invitations(
    runtime: Runtime, event_id: str, statuses: Sequence[str]
) -> dict[str, Any]:
    """Queue a run and answer at once: the worker goes through the participants (at 100,000
    that would hold the request too long)."""
    event = await EventRepository(runtime).get(event_id)
    event.ensure_open()
    run = {
        "_id": str(uuid.uuid4()),
        "event_id": event_id,
        "statuses": list(statuses),
        "state": "queued",
        "total": None,
        "processed": 0,
        "invited": 0,
        "created_at": utc_now(),
        "finished_at": None,
        "correlation_id": current_correlation_id() or new_correlation_id(),
    }
    await InvitationRuns(runtime).create(run)
    return run


async def run_invitations(runtime: Runtime, run: dict[str, Any]) -> None:
    """Work one run through, a page of participants at a time in ``_id`` order; resumable
    from its cursor (the last id done) after a crash.

    First the run's participants are counted (its ``total``). Each page is read after the
    cursor, and only participants still in one of the run's statuses are taken; the domain
    invites a participant once (``invite`` reaches nothing for one already invited), and
    every write is guarded by the version read. So a page done again after a crash, or a
    participant changed meanwhile, invites no one twice."""
    # The events and log lines of the run carry the id of the request that started it (a
    # run stored before runs kept it gets a fresh one, shared by all its events).
    token = correlation_id.set(run.get("correlation_id") or new_correlation_id())
    try:
        await _work_through(runtime, run)
    finally:
        correlation_id.reset(token)


async def _work_through(runtime: Runtime, run: dict[str, Any]) -> None:
    runs = InvitationRuns(runtime)
    repo = ParticipantRepository(runtime)
    event = await EventRepository(runtime).get(run["event_id"])
    targets = _targets(run)
    if run.get("total") is None:
        run["total"] = await repo.count(targets)
        await runs.planned(run["_id"], total=run["total"])
    sign = signer(runtime)
    ttl = timedelta(days=settings_of(runtime).invitation_link_ttl_days)
    after: str | None = run.get("after")
    processed = int(run.get("processed") or 0)
    while batch := await repo.next_batch(targets, after=after, limit=BATCH):
        people = await directory.people(runtime.db, [p.person_id for p in batch if p.person_id])
        staff = await directory.employees(
            runtime.db, [p.employee_id for p in batch if p.employee_id]
        )
        now = utc_now()
        changed: list[tuple[Participant, Sequence[ContractEvent], dict[str, Any]]] = []
        deltas: dict[str, dict[str, int]] = {}
        for p in batch:
            reached = p.invite(now)
            if not reached:
                continue
            token = sign.sign(
                LinkPurpose.ANSWER,
                event_id=event.event_id,
                participant_id=p.participant_id,
                now=now,
                ttl=max(ttl, event.slot.ends_at - now + timedelta(days=1)),
            )
            contact = (
                staff.get(p.employee_id or "", {})
                if p.kind == "employee"
                else people.get(p.person_id or "", {})
            )
            fact = facts.invitation_requested(
                event,
                p,
                contact,
                token=token,
                url=public_url(runtime, f"/i/{token}"),
                at=now,
            )
            changed.append((p, [fact], {"invitation_run_id": run["_id"]}))
            deltas[p.participant_id] = reached
        written = await repo.save_many(changed)
        totals: dict[str, int] = {}
        for pid in written:
            for key, value in deltas[pid].items():
                totals[key] = totals.get(key, 0) + value
        await Counters(runtime).add(event.event_id, totals)
        after = batch[-1].participant_id
        # Someone who moved into the run's statuses meanwhile is taken too, beyond the total.
        processed = min(int(run["total"]), processed + len(batch))
        await runs.progress(run["_id"], after=after, processed=processed, invited=len(written))
    await runs.finish(run["_id"], utc_now(), processed=int(run["total"]))


async def invitation_worker(runtime: Runtime) -> None:
    """Background loop: picks up queued (or interrupted) invitation runs; at start, finishes
    the no-show marking a stopped process may have left."""
    runs = InvitationRuns(runtime)
    await mark_pending_no_shows(runtime)
    while True:
        for run in await runs.pending():
            await run_invitations(runtime, run)
        await asyncio.sleep(0.2)
