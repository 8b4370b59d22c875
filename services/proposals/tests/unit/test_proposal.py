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
    p.complete_step(step, "boss", NOW)
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


def _approve(p: Proposal, title: str = "Approve the discount") -> None:
    """Add an approval step to the plan (a new plan if there is none) and complete it."""
    spec = StepSpec("ok", title, approval=True)
    if p.plan is None:
        p.replace_plan(build_plan([spec], origin=PlanOrigin.MANUAL, now=NOW, starts_on=NOW.date()))
        step = p.plan.steps[0] if p.plan else None
    else:
        step = p.plan.add_step(spec)
    assert step is not None
    assert p.plan is not None
    p.plan.start(step.step_id, NOW)
    p.complete_step(step.step_id, "boss", NOW)


def test_an_approval_covers_the_terms_it_saw_and_a_higher_discount_needs_a_new_one() -> None:
    p = proposal(discount_bp=1500)
    _approve(p)
    assert not p.approval_pending(THRESHOLD)
    move(p, S.PRESENTED)

    # A revision keeping the approved line as it was (only the title changes) stays approved.
    p.revise(content(1500, title="Offer, renamed"), NOW, "title")
    assert not p.approval_pending(THRESHOLD)

    # A revision raising the discount over the threshold again is no longer covered.
    p.revise(content(2500), NOW, "more discount")
    assert p.approval_pending(THRESHOLD)
    move(p, S.NEGOTIATION)
    for to in (S.PRESENTED, S.WON):
        with pytest.raises(ApprovalRequired) as refused:
            move(p, to)
        assert "revision 3" in str(refused.value)
    assert p.status is S.NEGOTIATION

    _approve(p, "Approve the new discount")
    assert not p.approval_pending(THRESHOLD)
    move(p, S.PRESENTED)
    assert p.status is S.PRESENTED


def test_a_revision_lowering_the_discount_under_the_threshold_needs_no_approval() -> None:
    p = proposal(discount_bp=1500)
    _approve(p)
    move(p, S.PRESENTED)
    p.revise(content(THRESHOLD), NOW, "within policy")
    assert not p.approval_pending(THRESHOLD)
    move(p, S.WON)


def test_a_skipped_approval_step_approves_nothing() -> None:
    p = proposal(discount_bp=1500)
    p.replace_plan(
        build_plan(
            [StepSpec("ok", "Approve", approval=True, required=False)],
            origin=PlanOrigin.MANUAL,
            now=NOW,
            starts_on=NOW.date(),
        )
    )
    assert p.plan is not None
    p.plan.skip(p.plan.steps[0].step_id, "boss", NOW)
    assert p.approval_pending(THRESHOLD)


def test_a_draft_is_edited_in_place_with_its_totals_recomputed() -> None:
    p = proposal()
    created = p.current.created_at
    later = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
    edited = p.edit_draft(content(2000, title="Offer, bigger discount"), later, ("title",))
    assert [(e.at, e.changed_fields) for e in p.draft_edits] == [(later, ("title",))]
    assert [r.number for r in p.revisions] == [1]
    assert p.current is edited
    assert (edited.title, edited.totals.discount_minor, edited.totals.total_minor) == (
        "Offer, bigger discount",
        2000,
        8000,
    )
    assert (edited.created_at, edited.edited_at) == (created, later)


def test_an_approval_of_a_draft_is_lost_when_the_draft_raises_the_discount() -> None:
    p = proposal(discount_bp=1500)
    _approve(p)
    p.edit_draft(content(1600), NOW)
    assert p.approval_pending(THRESHOLD)
    with pytest.raises(ApprovalRequired):
        move(p, S.PRESENTED)


def test_only_a_draft_is_edited_in_place() -> None:
    p = proposal()
    move(p, S.PRESENTED)
    with pytest.raises(IllegalTransition) as shown:
        p.edit_draft(content(), NOW)
    assert shown.value.field == "path.proposal_id"
    move(p, S.WON)
    with pytest.raises(ProposalClosed):
        p.edit_draft(content(), NOW)
    assert [r.title for r in p.revisions] == ["Offer"]


def test_skipped_steps_the_mined_model_holds_decisive_are_flagged() -> None:
    p = proposal()
    p.replace_plan(
        build_plan(
            [
                StepSpec("a", "Call", required=False),
                StepSpec("b", "Site Visit", required=False, model_step_id="visit"),
                StepSpec("c", "Demo", required=False),
            ],
            origin=PlanOrigin.MANUAL,
            now=NOW,
            starts_on=NOW.date(),
        )
    )
    assert p.plan is not None
    for step in p.plan.steps[:2]:
        p.plan.skip(step.step_id, None, NOW)
    assert p.refresh_flags(frozenset({"visit", "call", "demo"})) is True
    assert p.flagged_steps == ("call", "visit")  # demo was not skipped
    assert p.refresh_flags(frozenset({"visit", "call", "demo"})) is False
    assert p.refresh_flags(frozenset()) is True
    assert p.flagged_steps == ()
