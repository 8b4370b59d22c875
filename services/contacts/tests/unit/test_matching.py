"""Duplicate matching by tax id, normalised e-mail, phone and name."""

from __future__ import annotations

from crm_contacts.domain.channels import Channels
from crm_contacts.domain.matching import (
    client_keys,
    normalise_name,
    person_keys,
    reasons,
)


def test_legal_forms_punctuation_case_and_accents_do_not_tell_names_apart() -> None:
    assert normalise_name('OOO "Ромашка"') == normalise_name("ромашка ООО")
    assert normalise_name("ACME, Ltd.") == normalise_name("Acme LLC") == "acme"
    assert normalise_name("Café Crème") == "cafe creme"
    assert normalise_name("Ёлка") == normalise_name("елка")


def test_a_name_that_is_only_a_legal_form_is_kept() -> None:
    assert normalise_name("Company") == "company"


def test_clients_match_by_tax_id_and_by_name() -> None:
    first = client_keys("Acme LLC", "7707083893")
    assert reasons(first, client_keys("Other", "7707083893")) == ("tax_id",)
    assert reasons(first, client_keys("ACME Ltd", None)) == ("name",)
    assert reasons(first, client_keys("Acme", "7707083893")) == ("tax_id", "name")
    assert reasons(first, client_keys("Zenith", None)) == ()


def test_people_match_by_email_or_phone_anywhere_and_by_name_within_a_client() -> None:
    ivan = person_keys("c1", "Ivan Petrov", Channels(email="ivan@example.com"))
    same_mail = person_keys("c2", "I. Petrov", Channels(email="ivan@example.com"))
    same_phone = person_keys(
        "c2", "Other", Channels(phone="+74951234567", email="other@example.com")
    )
    namesake_elsewhere = person_keys("c2", "Ivan Petrov", Channels())
    namesake_here = person_keys("c1", "ivan  petrov", Channels())
    assert reasons(ivan, same_mail) == ("email",)
    assert reasons(person_keys("c1", "X", Channels(mobile="+74951234567")), same_phone) == (
        "phone",
    )
    assert reasons(ivan, namesake_elsewhere) == ()
    assert reasons(ivan, namesake_here) == ("name",)
