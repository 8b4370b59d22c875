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
from crm_campaigns.repository.participants import Counters, InvitationRuns, ParticipantRepository
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.settings import settings_of


async def start_invitations(
    runtime: Runtime, event_id: str, statuses: Sequence[str]
) -> dict[str, Any]:
    event = await EventRepository(runtime).get(event_id)
    event.ensure_open()
    run = {
        "_id": str(uuid.uuid4()),
        "event_id": event_id,
        "statuses": list(statuses),
        "state": "queued",
        "total": await ParticipantRepository(runtime).count(event_id, statuses),
        "processed": 0,
        "invited": 0,
        "after_id": "",
        "created_at": utc_now(),
        "finished_at": None,
    }
    await InvitationRuns(runtime).create(run)
    return run


async def run_invitations(runtime: Runtime, run: dict[str, Any]) -> None:
    """Work one run through, a batch at a time; resumable from ``after_id`` after a crash."""
    runs = InvitationRuns(runtime)
    repo = ParticipantRepository(runtime)
    event = await EventRepository(runtime).get(run["event_id"])
    sign = signer(runtime)
    ttl = timedelta(days=settings_of(runtime).invitation_link_ttl_days)
    after_id = str(run.get("after_id") or "")
    while True:
        batch = await repo.batch(event.event_id, run["statuses"], after_id, BATCH)
        if not batch:
            await runs.finish(run["_id"], utc_now())
            return
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
        after_id = batch[-1].participant_id
        await runs.progress(
            run["_id"], after_id=after_id, processed=len(batch), invited=len(written)
        )


async def invitation_worker(runtime: Runtime) -> None:
    """Background loop: picks up queued (or interrupted) invitation runs; at start, finishes
    the no-show marking a stopped process may have left."""
    runs = InvitationRuns(runtime)
    await mark_pending_no_shows(runtime)
    while True:
        for run in await runs.pending():
            await run_invitations(runtime, run)
        await asyncio.sleep(0.2)
