"""Proposals: one document each, holding its revisions, its plan and its status history."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import ProposalStatus
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_proposals.domain.plan import FINISHED, Plan
from crm_proposals.domain.proposal import (
    ClientMerge,
    DraftEdit,
    Proposal,
    Revision,
    StatusChange,
)
from crm_proposals.repository import MINING, PROPOSALS
from crm_proposals.repository.codec import dump, load
from crm_proposals.repository.pages import page

SCAN_LIMIT = 10_000
"""The most proposals a report or the mining reads at once."""


def _mutable_fields(p: Proposal) -> Document:
    return {
        "curator_id": p.curator_id,
        "status": p.status.value,
        "plan": dump(Plan, p.plan) if p.plan is not None else None,
        "history": [dump(StatusChange, h) for h in p.history],
        "outcome_reason": p.outcome_reason,
        "competitor": p.competitor,
        "closed_at": p.closed_at,
        # Copies of the current revision's figures for filters and reports.
        "current_revision": p.current.number,
        "currency": p.current.currency,
        "total_minor": p.current.totals.total_minor,
    }


def _flag_fields(p: Proposal) -> Document:
    return {"flagged_steps": list(p.flagged_steps), "flagged": bool(p.flagged_steps)}


def _to_doc(p: Proposal) -> Document:
    return {
        "_id": p.proposal_id,
        "client_id": p.client_id,
        "registered_at": p.registered_at,
        "registered_by": p.registered_by,
        "revisions": [dump(Revision, r) for r in p.revisions],
        **_mutable_fields(p),
        **_flag_fields(p),
    }


def from_doc(doc: Document) -> Proposal:
    return Proposal(
        proposal_id=doc["_id"],
        client_id=doc["client_id"],
        curator_id=doc["curator_id"],
        status=ProposalStatus(doc["status"]),
        registered_at=doc["registered_at"],
        revisions=[load(Revision, r) for r in doc["revisions"]],
        plan=load(Plan, doc["plan"]) if doc.get("plan") else None,
        history=[load(StatusChange, h) for h in doc.get("history", [])],
        outcome_reason=doc.get("outcome_reason"),
        competitor=doc.get("competitor"),
        closed_at=doc.get("closed_at"),
        flagged_steps=tuple(doc.get("flagged_steps") or ()),
        client_merges=tuple(load(ClientMerge, m) for m in doc.get("client_merges") or ()),
        draft_edits=[load(DraftEdit, e) for e in doc.get("draft_edits") or ()],
        registered_by=doc.get("registered_by"),
        version=doc["version"],
    )


class ProposalRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.proposals = runtime.outbox(PROPOSALS, entity="proposal")
        self.collection = self.proposals.collection

    async def add(self, proposal: Proposal, events: Sequence[ContractEvent]) -> Proposal:
        return from_doc(await self.proposals.insert(_to_doc(proposal), events))

    async def save(
        self,
        proposal: Proposal,
        events: Sequence[ContractEvent],
        *,
        expected_version: int,
        new_revision: Revision | None = None,
        edited_draft: bool = False,
        flags: bool = False,
    ) -> Proposal:
        """One atomic update: the changed state, a new revision if any, and the events.

        Revisions are only ever appended, so earlier ones cannot change; only a draft's one
        revision is replaced in place (``edited_draft``), guarded on the draft status. The
        skipped-step flags are written only when the caller recomputed them (``flags``), so a
        write that did not leaves a mining run's flags alone.
        """
        changes: dict[str, dict[str, Any]] = {"$set": _mutable_fields(proposal)}
        if flags:
            changes["$set"].update(_flag_fields(proposal))
        extra: dict[str, Any] | None = None
        if new_revision is not None:
            changes["$push"] = {"revisions": dump(Revision, new_revision)}
        if edited_draft:
            changes["$set"]["revisions"] = [dump(Revision, r) for r in proposal.revisions]
            changes["$push"] = {"draft_edits": dump(DraftEdit, proposal.draft_edits[-1])}
            extra = {"status": ProposalStatus.DRAFT.value}
        doc = await self.proposals.update(
            proposal.proposal_id,
            changes,
            events,
            expected_version=expected_version,
            extra_filter=extra,
        )
        return from_doc(doc)

    async def set_flags(self, proposal_id: str, flagged_steps: Sequence[str]) -> None:
        """Store a mining run's flags on an open proposal; derived data, so no new version."""
        await self.collection.update_one(
            {"_id": proposal_id},
            {"$set": {"flagged_steps": list(flagged_steps), "flagged": bool(flagged_steps)}},
        )

    async def ids_of_client(self, client_id: str) -> list[str]:
        cursor = self.collection.find({"client_id": client_id}, {"_id": 1})
        return [d["_id"] async for d in cursor]

    async def move_to_client(self, proposal_id: str, merge: ClientMerge) -> bool:
        """Move one proposal from a merged client to the survivor: a new version, no event.

        Guarded on the old client id, so a redelivered merge changes nothing (False).
        """
        result = await self.collection.update_one(
            {"_id": proposal_id, "client_id": merge.from_client_id},
            {
                "$set": {"client_id": merge.to_client_id},
                "$push": {"client_merges": dump(ClientMerge, merge)},
                "$inc": {"version": 1},
            },
        )
        return result.modified_count == 1

    async def get(self, proposal_id: str) -> Proposal | None:
        doc = await self.collection.find_one({"_id": proposal_id})
        return from_doc(doc) if doc else None

    async def get_by_step(self, step_id: str) -> Proposal | None:
        doc = await self.collection.find_one({"plan.steps.step_id": step_id})
        return from_doc(doc) if doc else None

    async def with_open_steps_of(
        self, assignee_id: str, statuses: Iterable[str], limit: int
    ) -> list[Proposal]:
        """Proposals in ``statuses`` with an unfinished step ``assignee_id`` holds: at most
        ``limit``, the most recently registered first."""
        query = {
            "status": {"$in": list(statuses)},
            "plan.steps": {
                "$elemMatch": {
                    "assignee_id": assignee_id,
                    "state": {"$nin": [f.value for f in FINISHED]},
                }
            },
        }
        cursor = self.collection.find(query).sort([("registered_at", -1), ("_id", 1)]).limit(limit)
        return [from_doc(d) async for d in cursor]

    async def list(
        self,
        *,
        client_id: str | None,
        status: ProposalStatus | None,
        curator_id: str | None,
        cursor: str | None,
        limit: int | None,
        flagged: bool | None = None,
    ) -> tuple[list[Proposal], str | None]:
        query: dict[str, Any] = {}
        if flagged is not None:
            # Point values (not ``$ne``), so the (flagged, _id) index gives the id order.
            query["flagged"] = True if flagged else {"$in": [False, None]}
        if client_id:
            query["client_id"] = client_id
        if status:
            query["status"] = status.value
        if curator_id:
            query["curator_id"] = curator_id
        docs, nxt = await page(self.collection, query, cursor, limit)
        return [from_doc(d) for d in docs], nxt

    async def scan(
        self,
        *,
        statuses: Sequence[ProposalStatus] | None = None,
        registered_from: datetime | None = None,
        registered_to: datetime | None = None,
        curator_id: str | None = None,
        with_plan: bool = False,
    ) -> AsyncIterator[Proposal]:
        """At most :data:`SCAN_LIMIT` proposals, in the order of the index that serves the
        filter: by id within the statuses when they are given (the mining), otherwise by
        registration time (the pipeline report, by period and curator)."""
        query: dict[str, Any] = {}
        if statuses is not None:
            query["status"] = {"$in": [s.value for s in statuses]}
        period: dict[str, datetime] = {}
        if registered_from is not None:
            period["$gte"] = registered_from
        if registered_to is not None:
            period["$lt"] = registered_to
        if period:
            query["registered_at"] = period
        if curator_id:
            query["curator_id"] = curator_id
        if with_plan:
            query["plan"] = {"$ne": None}
        order = [("_id", 1)] if statuses is not None else [("registered_at", 1), ("_id", 1)]
        cursor = self.collection.find(query).sort(order).limit(SCAN_LIMIT)
        async for doc in cursor:
            yield from_doc(doc)


class MiningState:
    """The decisive steps of the latest mining run (one document)."""

    KEY = "latest"

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[MINING]

    async def decisive(self) -> frozenset[str]:
        doc = await self.collection.find_one({"_id": self.KEY})
        return frozenset(doc.get("decisive_keys", ())) if doc else frozenset()

    async def save(self, decisive: frozenset[str], won: int, lost: int, at: datetime) -> None:
        await self.collection.update_one(
            {"_id": self.KEY},
            {
                "$set": {
                    "decisive_keys": sorted(decisive),
                    "won_deals": won,
                    "lost_deals": lost,
                    "mined_at": at,
                }
            },
            upsert=True,
        )
