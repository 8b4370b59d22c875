"""Invitation runs: started with a 202 and worked through by a background worker, a batch at
a time, each participant's new state written with its InvitationRequested."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.clock import utc_now
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
    CHUNK,
    Counters,
    InvitationRuns,
    ParticipantRepository,
)
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.settings import settings_of


def _targets(event_id: str, statuses: Sequence[str]) -> dict[str, Any]:
    return {"event_id": event_id, "status": {"$in": list(statuses)}}


async def start_invitations(
    runtime: Runtime, event_id: str, statuses: Sequence[str]
) -> dict[str, Any]:
    """Queue a run and answer at once: reading its participants takes one scan of the
    participants, which the worker does (at 100,000 it would hold the request too long)."""
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
    }
    await InvitationRuns(runtime).create(run)
    return run


async def run_invitations(runtime: Runtime, run: dict[str, Any]) -> None:
    """Work one run through, a page of one chunk's ids at a time; resumable from its cursor
    (chunk, position) after a crash.

    First the run's participants are fixed: their ids are read once (one scan with a
    projection) and stored in chunk documents; a run stopped before its ``chunks`` were
    recorded reads them again (the chunks are replaced), since nobody was invited yet.

    Each page is fetched with one ``_id $in`` and only participants still in one of the run's
    statuses are taken; the domain invites a participant once (``invite`` reaches nothing for
    one already invited), and every write is guarded by the version read. So a page done
    again after a crash, or a participant changed meanwhile, invites no one twice."""
    runs = InvitationRuns(runtime)
    repo = ParticipantRepository(runtime)
    event = await EventRepository(runtime).get(run["event_id"])
    targets = _targets(event.event_id, run["statuses"])
    if "chunks" not in run:
        ids = await repo.ids(targets)
        run["chunks"] = await runs.write_chunks(run["_id"], ids)
        run["total"] = len(ids)
        await runs.planned(run["_id"], chunks=run["chunks"], total=len(ids))
    sign = signer(runtime)
    ttl = timedelta(days=settings_of(runtime).invitation_link_ttl_days)
    chunk_no, position = int(run.get("chunk") or 0), int(run.get("position") or 0)
    while chunk_no < run["chunks"]:
        chunk = await runs.chunk(run["_id"], chunk_no)
        page = chunk[position : position + BATCH]
        batch = await repo.by_ids(page, targets) if page else []
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
        position += len(page)
        if position >= len(chunk):
            chunk_no, position = chunk_no + 1, 0
        await runs.progress(
            run["_id"],
            chunk=chunk_no,
            position=position,
            processed=min(int(run["total"]), chunk_no * CHUNK + position),
            invited=len(written),
        )
    await runs.finish(run["_id"], utc_now())


async def invitation_worker(runtime: Runtime) -> None:
    """Background loop: picks up queued (or interrupted) invitation runs; at start, finishes
    the no-show marking a stopped process may have left."""
    runs = InvitationRuns(runtime)
    await mark_pending_no_shows(runtime)
    while True:
        for run in await runs.pending():
            await run_invitations(runtime, run)
        await asyncio.sleep(0.2)
