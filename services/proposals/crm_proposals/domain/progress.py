"""Operational analysis: a plan's progress and the pipeline of proposals."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from crm_contracts.values import ProposalStatus

from crm_proposals.domain.graph import check_dag
from crm_proposals.domain.plan import FINISHED, Plan, StepState


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
    date (or today, if it has none or is overdue) but never before its dependencies end."""
    by_id = {s.step_id: s for s in plan.steps}
    order = check_dag({s.step_id: s.depends_on for s in plan.steps})
    finish: dict[str, date] = {}
    via: dict[str, str | None] = {}
    for step_id in order:
        step = by_id[step_id]
        if step.state in FINISHED:
            own = step.completed_at.date() if step.completed_at else today
        else:
            own = max(step.due_on or today, today)
        latest_dep = max(step.depends_on, key=lambda d: finish[d], default=None)
        if latest_dep is not None and finish[latest_dep] > own:
            own = finish[latest_dep]
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


@dataclass(frozen=True)
class PipelineRow:
    status: ProposalStatus
    curator_id: str
    currency: str
    total_minor: int
    overdue_steps: int


@dataclass
class Bucket:
    count: int = 0
    overdue_steps: int = 0
    totals_minor: dict[str, int] = field(default_factory=dict)

    def add(self, row: PipelineRow) -> None:
        self.count += 1
        self.overdue_steps += row.overdue_steps
        self.totals_minor[row.currency] = self.totals_minor.get(row.currency, 0) + row.total_minor


@dataclass(frozen=True)
class Pipeline:
    registered: int
    won: int
    conversion_bp: int
    """Won of registered in basis points, rounded down."""
    by_status: dict[str, Bucket]
    by_curator: dict[str, Bucket]


def pipeline(rows: Sequence[PipelineRow]) -> Pipeline:
    by_status: dict[str, Bucket] = {}
    by_curator: dict[str, Bucket] = {}
    for row in rows:
        by_status.setdefault(row.status.value, Bucket()).add(row)
        by_curator.setdefault(row.curator_id, Bucket()).add(row)
    won = by_status.get(ProposalStatus.WON.value, Bucket()).count
    return Pipeline(
        registered=len(rows),
        won=won,
        conversion_bp=won * 10_000 // len(rows) if rows else 0,
        by_status=by_status,
        by_curator=by_curator,
    )
