"""Sales models: versions, publication and the step rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm_contracts.values import SalesModelOrigin
from crm_proposals.domain.errors import DependencyCycle, IllegalTransition, InvalidValue
from crm_proposals.domain.plan import ModelStep
from crm_proposals.domain.sales_model import SalesModel, define_model

NOW = datetime(2026, 11, 2, tzinfo=UTC)
STEPS = (ModelStep("a", "A", 1), ModelStep("b", "B", 3, depends_on=("a",)))


def model() -> SalesModel:
    return define_model(
        model_id="m1",
        name=" Standard ",
        description=None,
        origin=SalesModelOrigin.ANALYST,
        steps=STEPS,
        now=NOW,
    )


def test_a_new_model_has_one_unpublished_version() -> None:
    m = model()
    assert (m.name, [v.version for v in m.versions], m.published_version) == ("Standard", [1], None)
    with pytest.raises(IllegalTransition):
        m.published()


def test_publishing_picks_the_latest_version_unless_told_and_keeps_the_others() -> None:
    m = model()
    m.add_version((*STEPS, ModelStep("c", "C", 5, depends_on=("b",))), NOW)
    published = m.publish(None, NOW)
    assert (published.version, m.published_version, len(m.published().steps)) == (2, 2, 3)
    m.publish(1, NOW)
    assert (m.published_version, len(m.published().steps)) == (1, 2)
    with pytest.raises(IllegalTransition):
        m.publish(1, NOW)


def test_a_model_with_a_cycle_is_refused() -> None:
    with pytest.raises(DependencyCycle):
        model().add_version(
            (ModelStep("a", "A", 1, depends_on=("b",)), ModelStep("b", "B", 2, depends_on=("a",))),
            NOW,
        )


def test_a_negative_offset_and_a_repeated_step_id_are_refused() -> None:
    with pytest.raises(InvalidValue) as negative:
        model().add_version((ModelStep("a", "A", -1),), NOW)
    assert negative.value.field == "body.steps[0].offset_days"
    with pytest.raises(InvalidValue) as repeated:
        model().add_version((ModelStep("a", "A", 1), ModelStep("a", "A again", 2)), NOW)
    assert repeated.value.field == "body.steps[1].step_id"
