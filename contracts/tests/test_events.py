from datetime import datetime

import pytest
from crm_contracts import Money
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses
from crm_contracts.contacts import ConsentChanged
from crm_contracts.examples import example_events
from crm_contracts.proposals import ProposalWon
from crm_contracts.values import Channel
from pydantic import ValidationError

EXAMPLES = example_events()


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda event: event.event_type)
def test_an_event_cannot_be_changed_after_it_is_made(event: ContractEvent) -> None:
    field = next(iter(type(event).model_fields))

    with pytest.raises(ValidationError, match="frozen"):
        setattr(event, field, None)


def test_a_nested_value_cannot_be_changed_either() -> None:
    won = next(e for e in EXAMPLES if isinstance(e, ProposalWon))

    with pytest.raises(ValidationError, match="frozen"):
        won.totals.total = Money(amount_minor=1, currency="RUB")  # type: ignore[misc]


def test_an_event_time_without_a_timezone_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        ConsentChanged(
            client_id="c1",
            person_id="p1",
            channel=Channel.EMAIL,
            granted=False,
            at=datetime(2026, 1, 1, 12),
            source="api",
        )


def test_money_needs_an_iso_currency_code_and_whole_minor_units() -> None:
    with pytest.raises(ValidationError, match="currency"):
        Money(amount_minor=100, currency="rub")
    with pytest.raises(ValidationError, match="amount_minor"):
        Money(amount_minor=1.5, currency="RUB")


def test_adding_money_in_different_currencies_is_refused() -> None:
    assert Money.zero("EUR") + Money(amount_minor=5, currency="EUR") == Money(
        amount_minor=5, currency="EUR"
    )
    with pytest.raises(ValueError, match="cannot add"):
        Money.zero("EUR") + Money.zero("RUB")


def test_a_won_proposal_with_amounts_in_another_currency_is_refused() -> None:
    won = next(e for e in EXAMPLES if isinstance(e, ProposalWon))
    data = won.model_dump()

    with pytest.raises(ValidationError, match="every amount must be in EUR"):
        ProposalWon.model_validate({**data, "currency": "EUR"})


def test_a_channel_address_is_found_by_channel() -> None:
    channels = ChannelAddresses(email="a@example.com")

    assert channels.address(Channel.EMAIL) == "a@example.com"
    assert channels.address(Channel.PAGER) is None
