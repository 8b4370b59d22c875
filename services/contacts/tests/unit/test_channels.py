"""Channels are validated and normalised: phones to E.164, e-mail lower-cased."""

from __future__ import annotations

import pytest
from crm_contacts.domain.channels import Channels, normalise_email, normalise_phone
from crm_contacts.domain.errors import InvalidChannel
from crm_contracts.values import Channel


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+7 (495) 123-45-67", None, "+74951234567"),
        ("8 495 123 45 67", "RU", "+74951234567"),
        ("020 7946 0958", "gb", "+442079460958"),
        ("+49 30 901820", None, "+4930901820"),
    ],
)
def test_phones_are_normalised_to_e164(raw: str, region: str | None, e164: str) -> None:
    assert normalise_phone(raw, region) == e164


@pytest.mark.parametrize(
    ("raw", "region"), [("+7 12", None), ("hello", "RU"), ("8 495 123 45 67", None)]
)
def test_an_unreadable_or_invalid_phone_is_refused(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidChannel):
        normalise_phone(raw, region, field="channels.phone")


def test_an_email_is_lower_cased_and_trimmed() -> None:
    assert normalise_email("  Ivan.Petrov@Example.COM ") == "ivan.petrov@example.com"


@pytest.mark.parametrize("raw", ["ivan@@example.com", "no-at-sign", "a@b", "ivan@exa mple.com"])
def test_a_malformed_email_is_refused(raw: str) -> None:
    with pytest.raises(InvalidChannel):
        normalise_email(raw)


def test_parsing_names_the_offending_channel() -> None:
    with pytest.raises(InvalidChannel) as refused:
        Channels.parse({"email": "ok@example.com", "mobile": "+7 12"})
    assert refused.value.field == "channels.mobile"


def test_blank_addresses_mean_none_and_the_pager_keeps_its_digits() -> None:
    channels = Channels.parse({"email": " ", "pager": " 12 34 "})
    assert channels == Channels(pager="1234")
    assert channels.present() == (Channel.PAGER,)


def test_merging_channels_replaces_given_ones_and_removes_nulls() -> None:
    channels = Channels.parse({"email": "a@example.com", "phone": "+74951234567"})
    merged = channels.merged_with({"phone": None, "mobile": "+7 916 123 45 67"}, region=None)
    assert merged == Channels(email="a@example.com", mobile="+79161234567")
