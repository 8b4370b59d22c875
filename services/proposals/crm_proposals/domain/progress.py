"""Operational analysis: a plan's progress and the pipeline of proposals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from crm_contracts.values import ProposalStatus

from crm_proposals.domain.graph import check_dag
from crm_proposals.domain.plan import FINISHED, Plan, Step, StepState


@dataclass(frozen=True)
class PlanProgress:
    total: int
    done: int
    skipped: int
    overdue: tuple[str, ...]
    next_steps: tuple[str, ...]
    """Steps that can be worked on now: ready or in progress."""
    expected_finish: date | None
    critical_path: tuple[str, ...]
    """The chain of steps that decides the expected finish, first to last."""


def plan_progress(plan: Plan, today: date) -> PlanProgress:
    """Expected finish: a finished step ends on its completion day; an open one on its due
    date (or today, if it has none or is overdue), but never before a dependency ends plus the
    time the plan gave it after that dependency (the gap between their due dates), so a late
    step pushes the steps after it back by as much."""
    by_id = {s.step_id: s for s in plan.steps}
    order = check_dag({s.step_id: s.depends_on for s in plan.steps})
    finish: dict[str, date] = {}
    via: dict[str, str | None] = {}

    def after(step: Step, dep: str) -> date:
        planned, before = step.due_on, by_id[dep].due_on
        lag = (planned - before).days if planned and before and step.state not in FINISHED else 0
        return finish[dep] + timedelta(days=max(0, lag))

    for step_id in order:
        step = by_id[step_id]
        if step.state in FINISHED:
            own = step.completed_at.date() if step.completed_at else today
        else:
            own = max(step.due_on or today, today)
        # The dependency that holds the step longest; on a tie, the one ending later.
        latest_dep = max(step.depends_on, key=lambda d: (after(step, d), finish[d]), default=None)
        if latest_dep is not None and after(step, latest_dep) > own:
            own = after(step, latest_dep)
        finish[step_id] = own
        via[step_id] = latest_dep
    # On a tie the later step in dependency order ends the path: it waits for the others.
    last = max(order, key=lambda s: (finish[s], order.index(s)), default=None)
    path: list[str] = []
    cursor = last
    while cursor is not None:
        path.append(cursor)
        cursor = via[cursor]
    return PlanProgress(
        total=len(plan.steps),
        done=sum(1 for s in plan.steps if s.state is StepState.DONE),
        skipped=sum(1 for s in plan.steps if s.state is StepState.SKIPPED),
        overdue=tuple(
            s.step_id
            for s in plan.steps
            if s.state not in FINISHED and s.due_on is not None and s.due_on < today
        ),
        next_steps=tuple(
            s.step_id for s in plan.steps if s.state in {StepState.READY, StepState.IN_PROGRESS}
        ),
        expected_finish=finish[last] if last is not None else None,
        critical_path=tuple(reversed(path)),
    )


OPEN_PROPOSAL = frozenset(
    {ProposalStatus.DRAFT, ProposalStatus.PRESENTED, ProposalStatus.NEGOTIATION}
)
"""The statuses whose plan is still being worked."""


def assigned_open_steps(
    plans: Sequence[tuple[str, Plan]], assignee_id: str, today: date
) -> list[tuple[str, Step, bool]]:
    """The unfinished steps of ``plans`` (each with its proposal id) that ``assignee_id``
    holds, with whether each is overdue: overdue first (oldest due first), then by due date
    (undated last), then by title."""
    found = [
        (proposal_id, s, s.due_on is not None and s.due_on < today)
        for proposal_id, plan in plans
        for s in plan.steps
        if s.assignee_id == assignee_id and s.state not in FINISHED
    ]
    return sorted(
        found,
        key=lambda f: (not f[2], f[1].due_on is None, f[1].due_on or today, f[1].title),
    )


@dataclass(frozen=True)
class PipelineRow:
    status: ProposalStatus
    curator_id: str
    currency: str
    total_minor: int
    overdue_steps: int
    registered_on: date | None = None


@dataclass
class Bucket:
    count: int = 0
    won: int = 0
    overdue_steps: int = 0
    totals_minor: dict[str, int] = field(default_factory=dict)

    def add(self, row: PipelineRow) -> None:
        self.count += 1
        self.won += row.status is ProposalStatus.WON
        self.overdue_steps += row.overdue_steps
        self.totals_minor[row.currency] = self.totals_minor.get(row.currency, 0) + row.total_minor

    @property
    def conversion_bp(self) -> int:
        """Won of registered in this bucket, in basis points rounded down."""
        return _conversion(self.won, self.count)


def _conversion(won: int, registered: int) -> int:
    return won * 10_000 // registered if registered else 0


@dataclass(frozen=True)
class Pipeline:
    registered: int
    won: int
    conversion_bp: int
    """Won of registered in basis points, rounded down."""
    by_status: dict[str, Bucket]
    by_curator: dict[str, Bucket]
    by_month: dict[str, Bucket] = field(default_factory=dict)
    """By month of registration (``YYYY-MM``, UTC)."""


def pipeline(rows: Sequence[PipelineRow]) -> Pipeline:
    by_status: dict[str, Bucket] = {}
    by_curator: dict[str, Bucket] = {}
    by_month: dict[str, Bucket] = {}
    for row in rows:
        by_status.setdefault(row.status.value, Bucket()).add(row)
        by_curator.setdefault(row.curator_id, Bucket()).add(row)
        if row.registered_on is not None:
            by_month.setdefault(row.registered_on.strftime("%Y-%m"), Bucket()).add(row)
    won = by_status.get(ProposalStatus.WON.value, Bucket()).count
    return Pipeline(
        registered=len(rows),
        won=won,
        conversion_bp=_conversion(won, len(rows)),
        by_status=by_status,
        by_curator=by_curator,
        by_month=by_month,
    )
