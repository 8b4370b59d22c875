"""Mining a sales model from a known set of closed deals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crm_contracts.values import Department
from crm_proposals.domain.mining import Deal, DealStep, MinedStep, median_half_up, mine

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def done(key: str, day: int, hours: int, **kw: object) -> DealStep:
    finished = START + timedelta(days=day)
    return DealStep(
        key=key,
        title=key.title(),
        done=True,
        completed_at=finished,
        started_at=finished - timedelta(hours=hours),
        **kw,  # type: ignore[arg-type]
    )


def skipped(key: str) -> DealStep:
    return DealStep(key=key, title=key.title(), done=False)


def deal(won: bool, *steps: DealStep) -> Deal:
    return Deal(proposal_id=f"p{id(steps)}", won=won, plan_started_at=START, steps=steps)


DEALS = [
    deal(
        True,
        done("qualify", 1, 2, department=Department.SALES),
        done("demo", 4, 3),
        done("offer", 9, 1),
    ),
    deal(True, done("qualify", 2, 4), done("demo", 6, 5), done("offer", 10, 2)),
    deal(True, done("qualify", 1, 6), skipped("demo"), done("offer", 7, 1), done("visit", 3, 8)),
    deal(True, done("qualify", 3, 3), done("demo", 5, 4), done("offer", 12, 2)),
    deal(False, done("qualify", 1, 1), done("offer", 3, 1)),
    deal(False, done("qualify", 2, 2), skipped("demo")),
]


def test_medians_of_an_even_count_round_half_up() -> None:
    assert median_half_up([3, 1, 2]) == 2
    assert median_half_up([1, 2]) == 2
    assert median_half_up([4, 1, 2, 3]) == 3
    assert median_half_up([1, 4]) == 3


def test_the_mined_model_of_a_known_set_of_deals_is_exact() -> None:
    model = mine(DEALS)
    assert (model.won_deals, model.lost_deals) == (4, 2)
    assert model.steps == (
        MinedStep(
            step_id="qualify",
            title="Qualify",
            department=Department.SALES,
            role=None,
            approval=False,
            offset_days=2,  # days 1, 2, 1, 3 -> (1 + 2) / 2 = 1.5 -> 2
            median_duration_hours=4,  # 2, 4, 6, 3 -> (3 + 4) / 2 = 3.5 -> 4
            depends_on=(),
            won_deals=4,
            lost_deals=2,
            won_share_bp=10_000,
            lost_share_bp=10_000,
            decisive=False,
        ),
        MinedStep(
            step_id="demo",
            title="Demo",
            department=None,
            role=None,
            approval=False,
            offset_days=5,  # days 4, 6, 5
            median_duration_hours=4,  # 3, 5, 4
            depends_on=("qualify",),
            won_deals=3,
            lost_deals=0,
            won_share_bp=7_500,
            lost_share_bp=0,
            decisive=True,
        ),
        MinedStep(
            step_id="offer",
            title="Offer",
            department=None,
            role=None,
            approval=False,
            offset_days=10,  # days 9, 10, 7, 12 -> (9 + 10) / 2 = 9.5 -> 10
            median_duration_hours=2,  # 1, 2, 1, 2 -> 1.5 -> 2
            depends_on=("demo",),
            won_deals=4,
            lost_deals=1,
            won_share_bp=10_000,
            lost_share_bp=5_000,
            decisive=True,
        ),
    )


def test_a_step_done_in_fewer_than_half_of_the_won_deals_is_left_out() -> None:
    assert "visit" not in {s.step_id for s in mine(DEALS).steps}


def test_no_won_deals_mine_an_empty_model() -> None:
    model = mine([d for d in DEALS if not d.won])
    assert (model.won_deals, model.lost_deals, model.steps) == (0, 2, ())
