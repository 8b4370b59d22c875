"""An event's effectiveness from its counters and its estimate: pure arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from crm_campaigns.domain.estimate import EstimateTotals
from crm_campaigns.domain.money import Money

COUNTERS = (
    "planned",
    "invited",
    "delivered",
    "failed",
    "accepted",
    "declined",
    "attended",
    "attended_accepted",
    "no_show",
    "questionnaires",
    "new_potential_clients",
    "contact_records",
)


@dataclass(frozen=True)
class Effectiveness:
    planned: int
    invited: int
    delivered: int
    failed: int
    accepted: int
    declined: int
    attended: int
    no_show: int | None
    """Accepted but did not come: each such participant is marked a no-show once the event is
    completed (and unmarked if their attendance is reported later)."""
    participation_ratio: float | None
    """Attended ÷ invited."""
    questionnaire_responses: int
    questionnaire_response_rate: float | None
    """Responses ÷ attended."""
    new_potential_clients: int
    contact_records: int
    actual_cost: Money
    cost_per_attendee: Money | None
    cost_per_new_potential_client: Money | None
    budget: Money | None
    budget_variance: Money | None
    """Budget minus actual spending; negative is over budget."""


def _ratio(numerator: int, denominator: int) -> float | None:
    if denominator <= 0:
        return None
    return round(float(Fraction(numerator, denominator)), 4)


def effectiveness(
    counters: dict[str, int], estimate: EstimateTotals, *, completed: bool
) -> Effectiveness:
    c = {name: max(int(counters.get(name, 0)), 0) for name in COUNTERS}
    return Effectiveness(
        planned=c["planned"],
        invited=c["invited"],
        delivered=c["delivered"],
        failed=c["failed"],
        accepted=c["accepted"],
        declined=c["declined"],
        attended=c["attended"],
        no_show=c["no_show"] if completed else None,
        participation_ratio=_ratio(c["attended"], c["invited"]),
        questionnaire_responses=c["questionnaires"],
        questionnaire_response_rate=_ratio(c["questionnaires"], c["attended"]),
        new_potential_clients=c["new_potential_clients"],
        contact_records=c["contact_records"],
        actual_cost=estimate.actual,
        cost_per_attendee=estimate.actual.divided_by(c["attended"]),
        cost_per_new_potential_client=estimate.actual.divided_by(c["new_potential_clients"]),
        budget=estimate.budget,
        budget_variance=estimate.actual_variance,
    )
