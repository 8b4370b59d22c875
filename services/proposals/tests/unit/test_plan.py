"""The step workflow, dependency readiness and the graph rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from crm_contracts.values import PlanOrigin
from crm_proposals.domain.errors import (
    DependenciesOpen,
    DependencyCycle,
    IllegalTransition,
    UnknownReference,
)
from crm_proposals.domain.plan import (
    ModelStep,
    Plan,
    StepSpec,
    StepState,
    build_plan,
    specs_from_model,
)

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def plan_of(*specs: StepSpec) -> Plan:
    return build_plan(specs, origin=PlanOrigin.MANUAL, now=NOW, starts_on=NOW.date())


def ids(plan: Plan) -> dict[str, str]:
    return {s.title: s.step_id for s in plan.steps}


def states(plan: Plan) -> dict[str, StepState]:
    return {s.title: s.state for s in plan.steps}


def diamond() -> Plan:
    return plan_of(
        StepSpec("a", "a"),
        StepSpec("b", "b", depends_on=("a",)),
        StepSpec("c", "c", depends_on=("a",), required=False),
        StepSpec("d", "d", depends_on=("b", "c")),
    )


def test_steps_without_dependencies_start_ready_and_the_others_pending() -> None:
    assert states(diamond()) == {
        "a": StepState.READY,
        "b": StepState.PENDING,
        "c": StepState.PENDING,
        "d": StepState.PENDING,
    }


def test_completing_a_step_makes_its_dependents_ready() -> None:
    plan = diamond()
    a = ids(plan)["a"]
    plan.start(a, NOW)
    done = plan.complete(a, "emp-1", NOW)
    assert (done.state, done.completed_by, done.started_at) == (StepState.DONE, "emp-1", NOW)
    assert states(plan)["b"] is StepState.READY
    assert states(plan)["c"] is StepState.READY
    assert states(plan)["d"] is StepState.PENDING


def test_a_skipped_step_counts_as_finished_for_its_dependents() -> None:
    plan = diamond()
    s = ids(plan)
    plan.start(s["a"], NOW)
    plan.complete(s["a"], None, NOW)
    plan.start(s["b"], NOW)
    plan.complete(s["b"], None, NOW)
    plan.skip(s["c"], None, NOW)
    assert states(plan)["d"] is StepState.READY


def test_completing_a_step_whose_dependencies_are_open_is_refused() -> None:
    plan = diamond()
    b = ids(plan)["b"]
    with pytest.raises(DependenciesOpen) as refused:
        plan.complete(b, None, NOW)
    assert ids(plan)["a"] in str(refused.value)
    assert states(plan)["b"] is StepState.PENDING


def test_completing_a_ready_step_that_was_not_started_is_refused() -> None:
    plan = diamond()
    with pytest.raises(IllegalTransition):
        plan.complete(ids(plan)["a"], None, NOW)


def test_a_required_step_cannot_be_skipped() -> None:
    plan = diamond()
    with pytest.raises(IllegalTransition):
        plan.skip(ids(plan)["a"], None, NOW)


def test_a_finished_step_cannot_move_again() -> None:
    plan = diamond()
    a = ids(plan)["a"]
    plan.start(a, NOW)
    plan.complete(a, None, NOW)
    with pytest.raises(IllegalTransition):
        plan.start(a, NOW)
    with pytest.raises(IllegalTransition):
        plan.block(a, "late")


def test_a_blocked_step_unblocks_to_where_it_was() -> None:
    plan = diamond()
    a = ids(plan)["a"]
    assert plan.block(a, "waiting for the client").state is StepState.BLOCKED
    assert plan.unblock(a).state is StepState.READY
    plan.start(a, NOW)
    plan.block(a, "again")
    assert plan.unblock(a).state is StepState.IN_PROGRESS


def test_a_dependency_cycle_is_refused_naming_the_steps() -> None:
    with pytest.raises(DependencyCycle) as refused:
        plan_of(
            StepSpec("a", "a", depends_on=("c",)),
            StepSpec("b", "b", depends_on=("a",)),
            StepSpec("c", "c", depends_on=("b",)),
        )
    assert "a, b, c" in str(refused.value)
    assert refused.value.field == "body.steps[0].depends_on"


def test_a_dependency_on_an_unknown_step_is_refused() -> None:
    with pytest.raises(UnknownReference) as refused:
        plan_of(StepSpec("a", "a"), StepSpec("b", "b", depends_on=("zz",)))
    assert refused.value.field == "body.steps[1].depends_on"


def test_a_step_added_by_hand_to_a_live_plan_follows_its_dependencies() -> None:
    plan = diamond()
    a = ids(plan)["a"]
    added = plan.add_step(StepSpec("x", "x", depends_on=(a,)))
    assert added.state is StepState.PENDING
    plan.start(a, NOW)
    plan.complete(a, None, NOW)
    assert plan.step(added.step_id).state is StepState.READY


def test_a_plan_from_a_model_takes_due_dates_from_offsets_and_maps_dependencies() -> None:
    model = [
        ModelStep("qualify", "Qualify", 2),
        ModelStep("approve", "Approve discount", 5, depends_on=("qualify",), approval=True),
    ]
    specs = specs_from_model(model, date(2026, 11, 2), {"approve": "emp-9"})
    plan = build_plan(specs, origin=PlanOrigin.SALES_MODEL, now=NOW, starts_on=date(2026, 11, 2))
    qualify, approve = plan.steps
    assert (qualify.due_on, approve.due_on) == (date(2026, 11, 4), date(2026, 11, 7))
    assert approve.depends_on == (qualify.step_id,)
    assert (approve.assignee_id, approve.approval, approve.model_step_id) == (
        "emp-9",
        True,
        "approve",
    )
