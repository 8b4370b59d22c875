"""Action plans: steps with dependencies under a workflow.

pending → ready (when every dependency is done or skipped) → in_progress → done;
a step not required may be skipped; a ready or started step may be blocked and later unblocked.
Done and skipped are final. Completing or skipping a step makes its dependents ready.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum

from crm_contracts.values import Department, PlanOrigin

from crm_proposals.domain.errors import (
    DependenciesOpen,
    IllegalTransition,
    InvalidValue,
    UnknownReference,
)
from crm_proposals.domain.graph import check_dag
from crm_proposals.domain.pricing import ApprovalTerm


class StepState(StrEnum):
    PENDING = "pending"
    READY = "ready"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    SKIPPED = "skipped"
    BLOCKED = "blocked"


FINISHED = frozenset({StepState.DONE, StepState.SKIPPED})


@dataclass(frozen=True)
class StepSpec:
    """A step as asked for; ``key`` and ``depends_on`` are the caller's names for steps."""

    key: str
    title: str
    department: Department | None = None
    role: str | None = None
    assignee_id: str | None = None
    due_on: date | None = None
    depends_on: tuple[str, ...] = ()
    required: bool = True
    approval: bool = False
    model_step_id: str | None = None


@dataclass(frozen=True)
class Step:
    step_id: str
    title: str
    department: Department | None
    role: str | None
    assignee_id: str | None
    due_on: date | None
    depends_on: tuple[str, ...]
    required: bool
    approval: bool
    model_step_id: str | None
    state: StepState
    started_at: datetime | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    blocked_reason: str | None = None
    approved_terms: tuple[ApprovalTerm, ...] | None = None
    """For a done approval step: the discounted lines it approved (None: stored before
    approvals recorded their terms, taken as approving any discount)."""


@dataclass(frozen=True)
class ModelStep:
    """A sales model's step, as a plan is generated from it."""

    step_id: str
    title: str
    offset_days: int
    department: Department | None = None
    role: str | None = None
    depends_on: tuple[str, ...] = ()
    required: bool = True
    approval: bool = False


@dataclass
class Plan:
    plan_id: str
    origin: PlanOrigin
    generated_at: datetime
    starts_on: date
    steps: list[Step] = field(default_factory=list)
    sales_model_id: str | None = None
    sales_model_version: int | None = None

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.step_id == step_id:
                return step
        raise UnknownReference(f"step {step_id} is not in this plan", field="path.step_id")

    def _put(self, changed: Step) -> Step:
        self.steps = [changed if s.step_id == changed.step_id else s for s in self.steps]
        self._refresh_readiness()
        return self.step(changed.step_id)

    def _deps_finished(self, step: Step) -> bool:
        states = {s.step_id: s.state for s in self.steps}
        return all(states[d] in FINISHED for d in step.depends_on)

    def _refresh_readiness(self) -> None:
        # Repeats until stable, though one pass suffices: readiness depends only on finished steps.
        self.steps = [
            replace(s, state=StepState.READY)
            if s.state is StepState.PENDING and self._deps_finished(s)
            else s
            for s in self.steps
        ]

    def open_dependencies(self, step: Step) -> list[str]:
        states = {s.step_id: s.state for s in self.steps}
        return [d for d in step.depends_on if states[d] not in FINISHED]

    def start(self, step_id: str, now: datetime) -> Step:
        step = self.step(step_id)
        self._refuse_unless(step, {StepState.READY}, "start")
        return self._put(replace(step, state=StepState.IN_PROGRESS, started_at=now))

    def complete(
        self,
        step_id: str,
        by: str | None,
        now: datetime,
        approves: tuple[ApprovalTerm, ...] = (),
    ) -> Step:
        """Finish a started step; an approval step records the discounted lines it approves."""
        step = self.step(step_id)
        self._refuse_unless(step, {StepState.IN_PROGRESS}, "complete")
        done = replace(step, state=StepState.DONE, completed_at=now, completed_by=by)
        if step.approval:
            done = replace(done, approved_terms=approves)
        return self._put(done)

    def skip(self, step_id: str, by: str | None, now: datetime) -> Step:
        step = self.step(step_id)
        if step.required:
            raise IllegalTransition(
                f"step {step_id} is required and cannot be skipped", field="path.step_id"
            )
        self._refuse_unless(
            step,
            {StepState.PENDING, StepState.READY, StepState.IN_PROGRESS, StepState.BLOCKED},
            "skip",
        )
        return self._put(replace(step, state=StepState.SKIPPED, completed_at=now, completed_by=by))

    def block(self, step_id: str, reason: str) -> Step:
        step = self.step(step_id)
        self._refuse_unless(step, {StepState.READY, StepState.IN_PROGRESS}, "block")
        return self._put(replace(step, state=StepState.BLOCKED, blocked_reason=reason))

    def unblock(self, step_id: str) -> Step:
        step = self.step(step_id)
        self._refuse_unless(step, {StepState.BLOCKED}, "unblock")
        back = StepState.IN_PROGRESS if step.started_at is not None else StepState.PENDING
        return self._put(replace(step, state=back, blocked_reason=None))

    def assign(self, step_id: str, assignee_id: str, due_on: date | None) -> Step:
        step = self.step(step_id)
        if step.state in FINISHED:
            raise IllegalTransition(
                f"step {step_id} is {step.state.value}; a finished step keeps its assignee",
                field="path.step_id",
            )
        return self._put(replace(step, assignee_id=assignee_id, due_on=due_on or step.due_on))

    def add_step(self, spec: StepSpec) -> Step:
        """A step added by hand to a live plan; it may depend only on existing steps."""
        known = {s.step_id for s in self.steps}
        for dep in spec.depends_on:
            if dep not in known:
                raise UnknownReference(f"step {dep} is not in this plan", field="body.depends_on")
        step = _new_step(spec, new_id(), spec.depends_on)
        self.steps = [*self.steps, step]
        self._refresh_readiness()
        return self.step(step.step_id)

    def has_done_approval(self) -> bool:
        return any(s.approval and s.state is StepState.DONE for s in self.steps)

    def approves(self, needed: Sequence[ApprovalTerm]) -> bool:
        """Whether a done approval step covers every one of these discounted lines as they are.

        A later revision that changes a line over the threshold (its discount, quantity or
        price) is no longer covered by an approval of the earlier terms.
        """
        return any(
            s.approval
            and s.state is StepState.DONE
            and (s.approved_terms is None or set(needed) <= set(s.approved_terms))
            for s in self.steps
        )

    def _refuse_unless(self, step: Step, allowed: set[StepState], action: str) -> None:
        if step.state in allowed:
            return
        if step.state is StepState.PENDING and action in {"start", "complete"}:
            raise DependenciesOpen(
                f"step {step.step_id} waits for {', '.join(self.open_dependencies(step))} "
                f"to be done first",
                field="path.step_id",
            )
        raise IllegalTransition(
            f"cannot {action} step {step.step_id}: it is {step.state.value}", field="path.step_id"
        )


def new_id() -> str:
    return uuid.uuid4().hex


def _new_step(spec: StepSpec, step_id: str, depends_on: tuple[str, ...]) -> Step:
    return Step(
        step_id=step_id,
        title=spec.title,
        department=spec.department,
        role=spec.role,
        assignee_id=spec.assignee_id,
        due_on=spec.due_on,
        depends_on=depends_on,
        required=spec.required,
        approval=spec.approval,
        model_step_id=spec.model_step_id,
        state=StepState.PENDING,
    )


def build_plan(
    specs: Sequence[StepSpec],
    *,
    origin: PlanOrigin,
    now: datetime,
    starts_on: date,
    sales_model_id: str | None = None,
    sales_model_version: int | None = None,
) -> Plan:
    """A new plan; the specs' keys become fresh step ids and the dependencies follow them."""
    if not specs:
        raise InvalidValue("a plan needs at least one step", field="body.steps")
    keys = [s.key for s in specs]
    for index, key in enumerate(keys):
        if keys.index(key) != index:
            raise InvalidValue(f"step key {key!r} appears twice", field=f"body.steps[{index}].key")
    check_dag({s.key: s.depends_on for s in specs})
    ids = {key: new_id() for key in keys}
    plan = Plan(
        plan_id=new_id(),
        origin=origin,
        generated_at=now,
        starts_on=starts_on,
        steps=[_new_step(s, ids[s.key], tuple(ids[d] for d in s.depends_on)) for s in specs],
        sales_model_id=sales_model_id,
        sales_model_version=sales_model_version,
    )
    plan._refresh_readiness()
    return plan


def specs_from_model(
    steps: Sequence[ModelStep], starts_on: date, assignees: Mapping[str, str]
) -> list[StepSpec]:
    """A sales model's steps as plan steps: due dates from the offsets, assignees by step id."""
    for model_step_id in assignees:
        if model_step_id not in {s.step_id for s in steps}:
            raise UnknownReference(
                f"the sales model has no step {model_step_id!r}",
                field=f"body.assignees.{model_step_id}",
            )
    return [
        StepSpec(
            key=s.step_id,
            title=s.title,
            department=s.department,
            role=s.role,
            assignee_id=assignees.get(s.step_id),
            due_on=starts_on + timedelta(days=s.offset_days),
            depends_on=s.depends_on,
            required=s.required,
            approval=s.approval,
            model_step_id=s.step_id,
        )
        for s in steps
    ]
