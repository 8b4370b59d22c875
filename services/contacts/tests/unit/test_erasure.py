"""Erasing a person: only their id, language and dates are kept; again, nothing happens."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crm_contacts.domain import facts
from crm_contacts.domain.channels import Channels
from crm_contacts.domain.clients import Client, register_client
from crm_contacts.domain.errors import PersonAlreadyErased
from crm_contacts.events import client_events
from crm_contracts.contacts import PersonErased
from crm_contracts.personal import ERASED
from crm_contracts.values import Channel, ClientKind, Language

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=1)
SUBJECTS = ("person:p1",)


def _client() -> Client:
    client, _ = register_client(client_id="c1", kind=ClientKind.ORGANISATION, name="Acme", now=NOW)
    client, _ = client.add_person(
        person_id="p1",
        name="Ivan Petrov",
        language=Language.EN,
        channels=Channels(email="ivan@example.com", mobile="+79161234567"),
        now=NOW,
        position="Engineer",
        preferred_channel=Channel.EMAIL,
        consented=(Channel.EMAIL,),
    )
    return client


def test_an_erased_person_keeps_only_their_id_language_and_dates() -> None:
    erased, happened = _client().erase_person("p1", subjects=SUBJECTS, now=LATER)

    person = erased.person("p1")
    assert (person.name, person.position, person.channels) == (ERASED, None, Channels())
    assert (person.preferred_channel, person.consents) == (None, ())
    assert (person.language, person.added_at, person.erased_at) == (Language.EN, NOW, LATER)
    assert happened == [facts.PersonErased("p1", SUBJECTS)]


def test_an_erased_person_is_no_duplicate_of_anyone_any_more() -> None:
    before = _client()

    erased, _ = before.erase_person("p1", subjects=SUBJECTS, now=LATER)

    assert erased.match_keys() == before.own_keys()


def test_erasing_an_erased_person_changes_nothing() -> None:
    erased, _ = _client().erase_person("p1", subjects=SUBJECTS, now=LATER)

    again, happened = erased.erase_person("p1", subjects=SUBJECTS, now=LATER + timedelta(days=1))

    assert (again, happened) == (erased, [])


def test_an_erased_person_can_be_neither_changed_nor_asked_for_consent() -> None:
    erased, _ = _client().erase_person("p1", subjects=SUBJECTS, now=LATER)

    with pytest.raises(PersonAlreadyErased):
        erased.update_person("p1", {"name": "Ivan"}, now=LATER)
    with pytest.raises(PersonAlreadyErased):
        erased.set_consent("p1", Channel.EMAIL, granted=True, source="api", now=LATER)


def test_the_erasure_is_published_with_the_destroyed_keys() -> None:
    erased, happened = _client().erase_person("p1", subjects=SUBJECTS, now=LATER)

    [event] = client_events(erased, happened, now=LATER)

    assert event == PersonErased(client_id="c1", person_id="p1", erased_at=LATER, subjects=SUBJECTS)


def _private_client() -> Client:
    client, _ = register_client(
        client_id="c2", kind=ClientKind.PERSON, name="Olga Smirnova", now=NOW, tax_id="500100732259"
    )
    return client


def test_a_private_persons_client_forgets_its_own_details_once() -> None:
    erased, happened = _private_client().erase_details(now=LATER)

    assert (erased.name, erased.tax_id, erased.addresses) == (ERASED, None, ())
    assert erased.match_keys() == ()
    assert happened == [facts.ClientUpdated(("name", "tax_id"), None)]
    assert erased.erase_details(now=LATER) == (erased, [])


def test_an_organisations_details_are_no_ones_personal_data_and_stay() -> None:
    organisation = _client()

    assert organisation.erase_details(now=LATER) == (organisation, [])
