"""A plan's progress and the pipeline report."""

from __future__ import annotations

from datetime import UTC, date, datetime

from crm_contracts.values import PlanOrigin, ProposalStatus
from crm_proposals.domain.plan import Plan, StepSpec, build_plan
from crm_proposals.domain.progress import PipelineRow, pipeline, plan_progress

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 10)


def plan() -> Plan:
    return build_plan(
        [
            StepSpec("a", "a", due_on=date(2026, 11, 5)),
            StepSpec("b", "b", due_on=date(2026, 11, 12), depends_on=("a",)),
            StepSpec("c", "c", due_on=date(2026, 11, 20), depends_on=("a",)),
            StepSpec("d", "d", due_on=date(2026, 11, 15), depends_on=("b", "c")),
        ],
        origin=PlanOrigin.MANUAL,
        now=NOW,
        starts_on=NOW.date(),
    )


def test_progress_counts_overdue_next_steps_and_the_critical_path() -> None:
    p = plan()
    a, _, c, d = (s.step_id for s in p.steps)
    progress = plan_progress(p, TODAY)
    assert (progress.total, progress.done, progress.skipped) == (4, 0, 0)
    assert progress.overdue == (a,)
    assert progress.next_steps == (a,)
    # a was due on the 5th and is still open on the 10th: five days late. c was planned 15
    # days after a, so it ends on the 25th; d, due before c, cannot end before c does.
    assert progress.expected_finish == date(2026, 11, 25)
    assert progress.critical_path == (a, c, d)


def test_on_time_the_expected_finish_is_the_latest_due_date_along_the_path() -> None:
    p = plan()
    a, _, c, d = (s.step_id for s in p.steps)
    progress = plan_progress(p, date(2026, 11, 3))
    # d is due on the 15th but cannot end before c (the 20th): the path runs through c.
    assert progress.expected_finish == date(2026, 11, 20)
    assert progress.critical_path == (a, c, d)


def test_done_steps_end_on_their_completion_day() -> None:
    p = plan()
    a = p.steps[0].step_id
    p.start(a, NOW)
    p.complete(a, None, datetime(2026, 11, 4, tzinfo=UTC))
    progress = plan_progress(p, TODAY)
    assert (progress.done, progress.overdue) == (1, ())
    assert set(progress.next_steps) == {p.steps[1].step_id, p.steps[2].step_id}
    # Done a day early (the 4th), a lets c keep its own due date, the 20th.
    assert progress.expected_finish == date(2026, 11, 20)


def test_the_pipeline_groups_by_status_and_curator_and_converts_registered_to_won() -> None:
    rows = [
        PipelineRow(ProposalStatus.WON, "e1", "EUR", 1000, 0, date(2026, 10, 31)),
        PipelineRow(ProposalStatus.WON, "e2", "USD", 500, 0, date(2026, 11, 1)),
        PipelineRow(ProposalStatus.PRESENTED, "e1", "EUR", 300, 2, date(2026, 11, 30)),
        PipelineRow(ProposalStatus.LOST, "e1", "EUR", 700, 0, date(2026, 11, 2)),
    ]
    report = pipeline(rows)
    assert (report.registered, report.won, report.conversion_bp) == (4, 2, 5_000)
    assert report.by_status["won"].totals_minor == {"EUR": 1000, "USD": 500}
    e1 = report.by_curator["e1"]
    assert (e1.count, e1.won, e1.conversion_bp, e1.overdue_steps) == (3, 1, 3_333, 2)
    assert report.by_curator["e2"].conversion_bp == 10_000
    assert {m: (b.count, b.won, b.conversion_bp) for m, b in report.by_month.items()} == {
        "2026-10": (1, 1, 10_000),
        "2026-11": (3, 1, 3_333),
    }
