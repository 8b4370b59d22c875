"""Domain state as contract events: the hand-over carries the lines and totals exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_contracts.common import Address
from crm_contracts.values import ClientKind, DiscountKind, ProposalSide, ProposalStatus
from crm_proposals import events
from crm_proposals.domain.pricing import Discount, LineInput
from crm_proposals.domain.proposal import Content, Participant, Proposal, register
from crm_proposals.projections import KnownClient, KnownPerson

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
    won = events.proposal_won(p, KnownClient("c1", "Acme", "active", "e1", None), None, NOW)
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


def _won_proposal(*participants: Participant) -> Proposal:
    p = register(
        proposal_id="p2",
        client_id="c1",
        curator_id="e1",
        content=Content(
            "Offer",
            "RUB",
            (LineInput("A", "Audit", "hour", 1, 100_00, "RUB"),),
            participants=participants,
        ),
        now=NOW,
    )
    p.version = 3
    p.move_to(ProposalStatus.PRESENTED, NOW, approval_threshold_bp=1000)
    p.move_to(ProposalStatus.WON, NOW, approval_threshold_bp=1000)
    return p


def test_proposal_won_carries_the_version_and_the_clients_legal_details_and_contact() -> None:
    p = _won_proposal(
        Participant(ProposalSide.CLIENT, "user", person_id="pp-1"),
        Participant(ProposalSide.CLIENT, "decision_maker", person_id="pp-2"),
    )
    address = Address(kind="legal", text="ul. Tverskaya 7", city="Moscow", country="RU")
    client = KnownClient(
        "c1",
        "Acme",
        "active",
        "e1",
        None,
        kind=ClientKind.ORGANISATION,
        tax_id="7701234567",
        country="RU",
        legal_address=address,
    )
    person = KnownPerson("pp-2", "c1", "Irina Petrova", "Director", "irina@acme.example", None)

    won = events.proposal_won(p, client, person, NOW)

    assert won.version == 4  # the version after the win's write
    assert (won.client_kind, won.client_tax_id, won.client_country) == (
        ClientKind.ORGANISATION,
        "7701234567",
        "RU",
    )
    assert won.client_legal_address == address
    assert won.client_contact is not None
    assert won.client_contact.model_dump() == {
        "person_id": "pp-2",
        "name": "Irina Petrova",
        "position": "Director",
        "role": "decision_maker",
        "email": "irina@acme.example",
        "phone": None,
        "mobile": None,
    }


def test_the_contact_candidates_are_the_client_side_people_decision_makers_first() -> None:
    p = _won_proposal(
        Participant(ProposalSide.COMPANY, "account_manager", employee_id="e1"),
        Participant(ProposalSide.CLIENT, "user", person_id="pp-1"),
        Participant(ProposalSide.PARTNER, "installer", person_id="pp-9", client_id="c9"),
        Participant(ProposalSide.CLIENT, "decision_maker", person_id="pp-2"),
    )

    assert events.contact_candidates(p) == ("pp-2", "pp-1")


def test_a_contact_who_is_no_participant_has_no_role() -> None:
    p = _won_proposal()

    won = events.proposal_won(p, None, KnownPerson("pp-5", "c1", "Oleg"), NOW)

    assert won.client_contact is not None
    assert (won.client_contact.person_id, won.client_contact.role) == ("pp-5", None)
    assert won.client_tax_id is None


def test_a_lost_proposal_and_a_status_move_carry_the_version_after_them() -> None:
    p = _won_proposal()
    p.version = 7

    lost = events.proposal_lost(p, "Price", None, NOW)
    moved = events.status_changed(p, p.history[-1])

    assert (lost.version, moved.version) == (8, 8)
