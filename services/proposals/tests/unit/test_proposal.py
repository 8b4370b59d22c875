"""The status machine, the discount policy and the revision rules."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from crm_contracts.values import DiscountKind, PlanOrigin, ProposalSide, ProposalStatus
from crm_proposals.domain.errors import (
    ApprovalRequired,
    IllegalTransition,
    InvalidValue,
    ProposalClosed,
)
from crm_proposals.domain.plan import StepSpec, build_plan
from crm_proposals.domain.pricing import Discount, LineInput
from crm_proposals.domain.proposal import Content, Participant, Proposal, register

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
S = ProposalStatus
THRESHOLD = 1000


def content(discount_bp: int = 0, title: str = "Offer") -> Content:
    discount = Discount(DiscountKind.PERCENT, basis_points=discount_bp) if discount_bp else None
    return Content(
        title=title,
        currency="EUR",
        lines=(LineInput("SKU", "Item", "pcs", 2, 5000, "EUR", discount),),
        valid_until=date(2026, 12, 31),
    )


def proposal(discount_bp: int = 0) -> Proposal:
    return register(
        proposal_id="p1", client_id="c1", curator_id="e1", content=content(discount_bp), now=NOW
    )


def move(p: Proposal, *to: ProposalStatus) -> None:
    for status in to:
        p.move_to(status, NOW, approval_threshold_bp=THRESHOLD, reason="because")


def test_a_new_proposal_is_a_draft_at_revision_one_with_its_totals() -> None:
    p = proposal(discount_bp=500)
    assert (p.status, p.current.number) == (S.DRAFT, 1)
    assert (p.current.totals.subtotal_minor, p.current.totals.total_minor) == (10000, 9500)


def test_the_status_machine_allows_the_sales_path_and_records_it() -> None:
    p = proposal()
    move(p, S.PRESENTED, S.NEGOTIATION, S.PRESENTED, S.WON)
    assert p.status is S.WON
    assert [(h.from_status, h.to_status) for h in p.history] == [
        (S.DRAFT, S.PRESENTED),
        (S.PRESENTED, S.NEGOTIATION),
        (S.NEGOTIATION, S.PRESENTED),
        (S.PRESENTED, S.WON),
    ]


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ((), S.WON),
        ((), S.NEGOTIATION),
        ((S.PRESENTED, S.WON), S.LOST),
        ((S.WITHDRAWN,), S.PRESENTED),
        ((S.PRESENTED, S.LOST), S.NEGOTIATION),
    ],
)
def test_an_illegal_move_is_refused_and_changes_nothing(
    path: tuple[ProposalStatus, ...], illegal: ProposalStatus
) -> None:
    p = proposal()
    move(p, *path)
    before = (p.status, len(p.history))
    with pytest.raises(IllegalTransition):
        move(p, illegal)
    assert (p.status, len(p.history)) == before


def test_losing_needs_a_reason() -> None:
    p = proposal()
    move(p, S.PRESENTED)
    with pytest.raises(InvalidValue) as refused:
        p.move_to(S.LOST, NOW, approval_threshold_bp=THRESHOLD, reason=" ")
    assert refused.value.field == "body.reason"


def test_a_discount_over_the_threshold_needs_a_done_approval_step_before_presenting() -> None:
    p = proposal(discount_bp=1500)
    with pytest.raises(ApprovalRequired):
        move(p, S.PRESENTED)
    plan = build_plan(
        [StepSpec("ok", "Approve the discount", approval=True)],
        origin=PlanOrigin.MANUAL,
        now=NOW,
        starts_on=NOW.date(),
    )
    p.replace_plan(plan)
    with pytest.raises(ApprovalRequired):
        move(p, S.PRESENTED)
    step = plan.steps[0].step_id
    plan.start(step, NOW)
    plan.complete(step, "boss", NOW)
    move(p, S.PRESENTED)
    assert p.status is S.PRESENTED


def test_a_discount_within_the_threshold_is_presented_without_approval() -> None:
    p = proposal(discount_bp=THRESHOLD)
    move(p, S.PRESENTED)
    assert p.status is S.PRESENTED


def test_revising_a_presented_proposal_adds_a_revision_and_keeps_the_earlier_one() -> None:
    p = proposal()
    move(p, S.PRESENTED)
    first = p.current
    revised = p.revise(content(500, title="Offer, cheaper"), NOW, "client asked")
    assert [r.number for r in p.revisions] == [1, 2]
    assert p.revisions[0] is first
    assert (first.title, first.totals.total_minor) == ("Offer", 10000)
    assert (revised.title, revised.totals.total_minor, revised.reason) == (
        "Offer, cheaper",
        9500,
        "client asked",
    )


def test_a_draft_is_not_revised() -> None:
    with pytest.raises(IllegalTransition):
        proposal().revise(content(), NOW, None)


@pytest.mark.parametrize("closing", [S.WON, S.LOST, S.WITHDRAWN])
def test_a_closed_proposal_is_not_revised(closing: ProposalStatus) -> None:
    p = proposal()
    move(p, S.PRESENTED, closing)
    with pytest.raises(ProposalClosed):
        p.revise(content(), NOW, None)
    assert len(p.revisions) == 1


def test_a_validity_date_in_the_past_is_refused() -> None:
    past = Content("Offer", "EUR", content().lines, valid_until=date(2026, 11, 1))
    with pytest.raises(InvalidValue) as refused:
        register(proposal_id="p", client_id="c", curator_id="e", content=past, now=NOW)
    assert refused.value.field == "body.valid_until"


def test_a_company_side_participant_must_be_an_employee() -> None:
    bad = Content(
        "Offer",
        "EUR",
        content().lines,
        participants=(
            Participant(ProposalSide.CLIENT, "decision_maker", person_id="x"),
            Participant(ProposalSide.COMPANY, "engineer"),
        ),
    )
    with pytest.raises(InvalidValue) as refused:
        register(proposal_id="p", client_id="c", curator_id="e", content=bad, now=NOW)
    assert refused.value.field == "body.participants[1].employee_id"
