"""Consent per channel: given only where there is an address, withdrawn at any time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crm_contacts.domain import facts
from crm_contacts.domain.channels import Channels
from crm_contacts.domain.clients import Client, register_client
from crm_contacts.domain.errors import ChannelWithoutAddress, PersonNotFound
from crm_contracts.values import Channel, ClientKind, Language

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)


def _with_person(**kw: object) -> Client:
    client, _ = register_client(client_id="c1", kind=ClientKind.ORGANISATION, name="Acme", now=NOW)
    defaults: dict[str, object] = {
        "person_id": "p1",
        "name": "Ivan",
        "language": Language.RU,
        "channels": Channels(email="ivan@example.com", mobile="+79161234567"),
        "now": NOW,
        "preferred_channel": Channel.EMAIL,
        "consented": (Channel.EMAIL,),
    }
    client, _ = client.add_person(**{**defaults, **kw})  # type: ignore[arg-type]
    return client


def test_consent_given_at_registration_is_recorded_per_channel() -> None:
    person = _with_person().person("p1")
    assert [(c.channel, c.granted, c.source) for c in person.consents] == [
        (Channel.EMAIL, True, "api")
    ]
    assert person.may_contact(Channel.EMAIL)
    assert not person.may_contact(Channel.MOBILE)


def test_consent_for_a_channel_without_an_address_is_refused() -> None:
    with pytest.raises(ChannelWithoutAddress) as refused:
        _with_person(consented=(Channel.FAX,))
    assert refused.value.field == "consents"


def test_withdrawing_consent_is_its_own_fact_and_clears_the_preferred_channel() -> None:
    client = _with_person()
    after, happened = client.set_consent(
        "p1", Channel.EMAIL, granted=False, source="unsubscribe_link", now=LATER
    )
    person = after.person("p1")
    assert not person.may_contact(Channel.EMAIL)
    assert person.preferred_channel is None
    assert person.version == 2
    assert happened[1] == facts.PersonUpdated("p1", ("preferred_channel",))
    consent = happened[0]
    assert isinstance(consent, facts.ConsentChanged)
    assert (consent.consent.granted, consent.consent.at, consent.consent.source) == (
        False,
        LATER,
        "unsubscribe_link",
    )


def test_the_same_consent_answer_again_changes_nothing() -> None:
    client = _with_person()
    same, happened = client.set_consent("p1", Channel.EMAIL, granted=True, source="api", now=LATER)
    assert (same, happened) == (client, [])


def test_consent_cannot_be_given_for_a_channel_the_person_has_no_address_for() -> None:
    with pytest.raises(ChannelWithoutAddress):
        _with_person().set_consent("p1", Channel.FAX, granted=True, source="api", now=LATER)


def test_withdrawing_consent_of_an_unknown_person_is_refused() -> None:
    with pytest.raises(PersonNotFound):
        _with_person().set_consent("nobody", Channel.EMAIL, granted=False, source="api", now=NOW)
