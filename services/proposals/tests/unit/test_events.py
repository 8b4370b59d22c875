"""Domain state as contract events: the hand-over carries the lines and totals exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contracts.values import DiscountKind, ProposalStatus
from crm_proposals import events
from crm_proposals.domain.pricing import Discount, LineInput
from crm_proposals.domain.proposal import Content, register

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_proposal_won_carries_client_curator_lines_totals_and_currency() -> None:
    p = register(
        proposal_id="p1",
        client_id="c1",
        curator_id="e1",
        content=Content(
            "Offer",
            "RUB",
            (
                LineInput("A", "Audit", "hour", 3, 150_00, "RUB"),
                LineInput(
                    "B", "Licence", "pcs", 2, 999_99, "RUB", Discount(DiscountKind.AMOUNT, None, 99)
                ),
            ),
        ),
        now=NOW,
    )
    p.move_to(ProposalStatus.PRESENTED, NOW, approval_threshold_bp=1000)
    p.move_to(ProposalStatus.WON, NOW, approval_threshold_bp=1000)
    won = events.proposal_won(p, "Acme", NOW)
    assert (won.proposal_id, won.client_id, won.client_name, won.curator_id) == (
        "p1",
        "c1",
        "Acme",
        "e1",
    )
    assert won.currency == "RUB"
    assert [
        (
            li.item_code,
            li.quantity,
            li.unit_price.amount_minor,
            li.discount_amount.amount_minor,
            li.line_total.amount_minor,
        )
        for li in won.lines
    ] == [("A", 3, 15_000, 0, 45_000), ("B", 2, 99_999, 99, 199_899)]
    assert won.lines[1].discount is not None
    assert won.lines[1].discount.amount is not None
    assert won.lines[1].discount.amount.amount_minor == 99
    assert (
        won.totals.subtotal.amount_minor,
        won.totals.discount.amount_minor,
        won.totals.total.amount_minor,
    ) == (244_998, 99, 244_899)
    assert won.aggregate_key() == "p1"
