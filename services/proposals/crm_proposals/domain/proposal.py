"""Proposals to a client: revisions of priced lines, participants and the status machine.

draft → presented → negotiation → presented (after a revision) …; presented or negotiation →
won or lost; anything still open → withdrawn. Won, lost and withdrawn are final.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from crm_contracts.values import ProposalSide, ProposalStatus
from crm_kit.refusals import Refusals

from crm_proposals.domain.errors import (
    ApprovalRequired,
    IllegalTransition,
    InvalidValue,
    ProposalClosed,
)
from crm_proposals.domain.mining import step_key
from crm_proposals.domain.plan import Plan, Step, StepState
from crm_proposals.domain.pricing import (
    LineInput,
    PricedLine,
    Totals,
    discounted_terms,
    needs_approval,
    price_lines,
    terms_needing_approval,
)

S = ProposalStatus
MOVES: dict[ProposalStatus, frozenset[ProposalStatus]] = {
    S.DRAFT: frozenset({S.PRESENTED, S.WITHDRAWN}),
    S.PRESENTED: frozenset({S.NEGOTIATION, S.WON, S.LOST, S.WITHDRAWN}),
    S.NEGOTIATION: frozenset({S.PRESENTED, S.WON, S.LOST, S.WITHDRAWN}),
    S.WON: frozenset(),
    S.LOST: frozenset(),
    S.WITHDRAWN: frozenset(),
}
CLOSED = frozenset({S.WON, S.LOST, S.WITHDRAWN})
REVISABLE = frozenset({S.PRESENTED, S.NEGOTIATION})
NEEDS_VALID_APPROVAL = frozenset({S.PRESENTED, S.WON})
"""Moves refused while a discount over the threshold lacks an approval of its current terms."""


@dataclass(frozen=True)
class Participant:
    side: ProposalSide
    role: str
    person_id: str | None = None
    employee_id: str | None = None
    client_id: str | None = None


@dataclass(frozen=True)
class Revision:
    number: int
    title: str
    preferences: str | None
    valid_until: date | None
    currency: str
    lines: tuple[PricedLine, ...]
    totals: Totals
    participants: tuple[Participant, ...]
    created_at: datetime
    reason: str | None = None
    edited_at: datetime | None = None
    """Set when a draft's revision was edited in place after it was made."""


@dataclass(frozen=True)
class DraftEdit:
    """One in-place edit of a draft: when, what it changed, and the preferences after it."""

    at: datetime
    changed_fields: tuple[str, ...]
    preferences: str | None = None


@dataclass(frozen=True)
class ClientMerge:
    """Contacts merged the proposal's client into another: the proposal moved with it."""

    from_client_id: str
    to_client_id: str
    at: datetime


@dataclass(frozen=True)
class StatusChange:
    from_status: ProposalStatus
    to_status: ProposalStatus
    at: datetime
    reason: str | None = None


@dataclass(frozen=True)
class Content:
    """What a revision is made of, as asked for."""

    title: str
    currency: str
    lines: tuple[LineInput, ...]
    preferences: str | None = None
    valid_until: date | None = None
    participants: tuple[Participant, ...] = ()


@dataclass
class Proposal:
    proposal_id: str
    client_id: str
    curator_id: str
    status: ProposalStatus
    registered_at: datetime
    revisions: list[Revision]
    plan: Plan | None = None
    history: list[StatusChange] = field(default_factory=list)
    outcome_reason: str | None = None
    competitor: str | None = None
    closed_at: datetime | None = None
    flagged_steps: tuple[str, ...] = ()
    """Steps of the plan skipped although the mined model holds them decisive (their keys)."""
    client_merges: tuple[ClientMerge, ...] = ()
    draft_edits: list[DraftEdit] = field(default_factory=list)
    registered_by: str | None = None
    """The employee who registered it (its author; None: an app on its own account)."""
    version: int = 1

    @property
    def current(self) -> Revision:
        return self.revisions[-1]

    def move_to(
        self,
        to: ProposalStatus,
        now: datetime,
        *,
        approval_threshold_bp: int,
        reason: str | None = None,
    ) -> StatusChange:
        if to not in MOVES[self.status]:
            raise IllegalTransition(
                f"a {self.status.value} proposal cannot become {to.value}", field="body.status"
            )
        if to in NEEDS_VALID_APPROVAL and self.approval_pending(approval_threshold_bp):
            raise ApprovalRequired(
                f"a line's discount exceeds {approval_threshold_bp / 100:g} %: an approval "
                f"step of the plan must approve revision {self.current.number}'s discount "
                f"before the proposal is {to.value}",
                field="body.status",
            )
        if to is S.LOST and not (reason and reason.strip()):
            raise InvalidValue("a lost proposal needs a reason", field="body.reason")
        change = StatusChange(self.status, to, now, reason)
        self.status = to
        self.history.append(change)
        if to in CLOSED:
            self.closed_at = now
            self.outcome_reason = reason
        return change

    def complete_step(self, step_id: str, by: str | None, now: datetime) -> Step:
        """Complete a step of the live plan; an approval step approves the discounted lines of
        the current revision as they stand, and only those terms."""
        return self.live_plan().complete(step_id, by, now, discounted_terms(self.current.lines))

    def approval_pending(self, threshold_bp: int) -> bool:
        """A line is discounted over the threshold and no done approval step covers the
        current terms (an approval of earlier terms does not count once they changed)."""
        if not needs_approval(self.current.lines, threshold_bp):
            return False
        needed = terms_needing_approval(self.current.lines, threshold_bp)
        return self.plan is None or not self.plan.approves(needed)

    def edit_draft(
        self, content: Content, now: datetime, changed: tuple[str, ...] = ()
    ) -> Revision:
        """Change a draft in place: it has not been shown, so its one revision is replaced;
        the edit itself is kept (``draft_edits``) for the proposal's history."""
        self.check_draft()
        current = self.current
        edited = make_revision(current.number, content, now, current.reason)
        edited = replace(edited, created_at=current.created_at, edited_at=now)
        self.revisions[-1] = edited
        self.draft_edits.append(DraftEdit(now, changed, edited.preferences))
        return edited

    def check_draft(self) -> None:
        """Refuse a change that only a draft allows."""
        if self.status in CLOSED:
            raise ProposalClosed(
                f"a {self.status.value} proposal can no longer be changed",
                field="path.proposal_id",
            )
        if self.status is not S.DRAFT:
            raise IllegalTransition(
                f"only a draft is edited in place; a {self.status.value} proposal was shown to "
                "the client, so revise it instead",
                field="path.proposal_id",
            )

    def refresh_flags(self, decisive: frozenset[str]) -> bool:
        """Flag the plan's skipped steps the mined model holds decisive; True if it changed."""
        skipped: list[str] = []
        if self.plan is not None:
            for s in self.plan.steps:
                key = step_key(s.model_step_id, s.title)
                if s.state is StepState.SKIPPED and key in decisive and key not in skipped:
                    skipped.append(key)
        flagged = tuple(skipped)
        changed = flagged != self.flagged_steps
        self.flagged_steps = flagged
        return changed

    def revise(self, content: Content, now: datetime, reason: str | None) -> Revision:
        if self.status in CLOSED:
            raise ProposalClosed(
                f"a {self.status.value} proposal can no longer be revised", field="path.proposal_id"
            )
        if self.status not in REVISABLE:
            raise IllegalTransition(
                "only a presented proposal or one under negotiation is revised; "
                "a draft is not yet shown to the client",
                field="path.proposal_id",
            )
        revision = make_revision(len(self.revisions) + 1, content, now, reason)
        self.revisions.append(revision)
        return revision

    def replace_plan(self, plan: Plan) -> None:
        self._refuse_if_closed()
        self.plan = plan

    def live_plan(self) -> Plan:
        self._refuse_if_closed()
        if self.plan is None:
            raise IllegalTransition("this proposal has no plan yet", field="path.proposal_id")
        return self.plan

    def _refuse_if_closed(self) -> None:
        if self.status in CLOSED:
            raise ProposalClosed(
                f"the proposal is {self.status.value}; its plan is closed", field="path.proposal_id"
            )


def make_revision(number: int, content: Content, now: datetime, reason: str | None) -> Revision:
    refusals = Refusals(InvalidValue)
    with refusals.check():
        if not content.title.strip():
            raise InvalidValue("a proposal needs a title", field="body.title")
    with refusals.check():
        if content.valid_until is not None and content.valid_until < now.date():
            raise InvalidValue(
                f"the validity date {content.valid_until} is already past",
                field="body.valid_until",
            )
    with refusals.check():
        lines, totals = price_lines(content.lines, content.currency)
    with refusals.check():
        _check_participants(content.participants)
    refusals.raise_if_any()
    return Revision(
        number=number,
        title=content.title.strip(),
        preferences=content.preferences,
        valid_until=content.valid_until,
        currency=content.currency,
        lines=lines,
        totals=totals,
        participants=content.participants,
        created_at=now,
        reason=reason,
    )


def _check_participants(participants: Sequence[Participant]) -> None:
    refusals = Refusals(InvalidValue)
    for index, p in enumerate(participants):
        where = f"body.participants[{index}]"
        with refusals.check():
            if p.side is ProposalSide.COMPANY and p.employee_id is None:
                raise InvalidValue(
                    "a company-side participant is an employee", field=f"{where}.employee_id"
                )
            if p.side is ProposalSide.CLIENT and p.person_id is None:
                raise InvalidValue(
                    "a client-side participant is a person", field=f"{where}.person_id"
                )
            if p.side is ProposalSide.PARTNER and p.client_id is None:
                raise InvalidValue(
                    "a partner-side participant names the partner", field=f"{where}.client_id"
                )
    refusals.raise_if_any()


def register(
    *,
    proposal_id: str,
    client_id: str,
    curator_id: str,
    content: Content,
    now: datetime,
    registered_by: str | None = None,
) -> Proposal:
    return Proposal(
        proposal_id=proposal_id,
        client_id=client_id,
        curator_id=curator_id,
        registered_by=registered_by,
        status=S.DRAFT,
        registered_at=now,
        revisions=[make_revision(1, content, now, None)],
    )
