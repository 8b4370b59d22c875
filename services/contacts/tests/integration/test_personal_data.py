"""Personal fields follow the role (docs/authorization.md, "Personal data"): one client base
for every department, but a person's channel addresses, a private person's tax id and
addresses are shown only to roles whose work is reaching people, and only they find a client
by an e-mail or a phone. Tokens as the provider issues them (realm roles, employee id)."""

from __future__ import annotations

from random import randint
from typing import Any
from uuid import uuid4

from crm_kit.testing import bearer

from .conftest import Contacts, unique_name


def _as(contacts: Contacts, *roles: str) -> dict[str, str]:
    return bearer(
        contacts.keys, "contacts:read", subject="crm-console", roles=roles, employee_id="emp-x"
    )


async def _private_client(contacts: Contacts) -> tuple[dict[str, Any], dict[str, Any], str, str]:
    mailbox = f"anna.{uuid4().hex[:12]}@private.example"
    mobile = f"+7 916 {randint(1_000_000, 9_999_999)}"
    registered = await contacts.api.post(
        "/clients",
        params={"insist": "true"},  # the tax id is every run's
        json={
            "name": unique_name("Anna"),
            "kind": "person",
            "country": "RU",
            "tax_id": "500100732259",
            "addresses": [{"kind": "home", "text": "Lesnaya 5, flat 12", "city": "Tver"}],
        },
        headers=contacts.writer,
    )
    assert registered.status_code == 201, registered.text
    client: dict[str, Any] = registered.json()
    person = await contacts.add_person(client["id"], channels={"email": mailbox, "mobile": mobile})
    return client, person, mailbox, mobile


async def test_a_seller_sees_personal_fields_and_a_finance_head_sees_them_withheld(
    contacts: Contacts,
) -> None:
    client, person, mailbox, mobile = await _private_client(contacts)
    people = f"/clients/{client['id']}/people/{person['id']}"

    seller = _as(contacts, "sales")
    seen = (await contacts.api.get(people, headers=seller)).json()
    assert seen["channels"]["email"] == mailbox
    assert seen["channels"]["mobile"] == mobile.replace(" ", "")
    assert seen["hidden"] == []
    card = (await contacts.api.get(f"/clients/{client['id']}", headers=seller)).json()
    assert card["tax_id"] == "500100732259"
    assert [a["text"] for a in card["addresses"]] == ["Lesnaya 5, flat 12"]
    assert card["hidden"] == []

    finance = _as(contacts, "department-head", "discount-approver")
    withheld = await contacts.api.get(people, headers=finance)
    assert withheld.status_code == 200, withheld.text
    body = withheld.json()
    assert body["name"] == person["name"]
    assert set(body["channels"].values()) == {None}
    assert sorted(body["hidden"]) == ["channels.email", "channels.mobile"]
    assert [c["channel"] for c in body["consents"]] == [c["channel"] for c in person["consents"]]
    listed = await contacts.api.get(f"/clients/{client['id']}/people", headers=finance)
    assert [p["channels"]["email"] for p in listed.json()["items"]] == [None]
    card = (await contacts.api.get(f"/clients/{client['id']}", headers=finance)).json()
    assert card["name"] == client["name"]
    assert (card["tax_id"], card["addresses"]) == (None, [])
    assert sorted(card["hidden"]) == ["addresses", "tax_id"]


async def test_an_organisations_details_are_not_personal_data(contacts: Contacts) -> None:
    registered = await contacts.api.post(
        "/clients",
        params={"insist": "true"},
        json={
            "name": unique_name("Stroy"),
            "country": "RU",
            "tax_id": "7707083893",
            "addresses": [{"kind": "legal", "text": "Tverskaya 1"}],
        },
        headers=contacts.writer,
    )
    client = registered.json()
    operator = _as(contacts, "operator")
    card = (await contacts.api.get(f"/clients/{client['id']}", headers=operator)).json()
    assert card["tax_id"] == "7707083893"
    assert card["hidden"] == []


async def test_only_roles_that_see_personal_data_find_a_client_by_e_mail_or_phone(
    contacts: Contacts,
) -> None:
    client, _, mailbox, mobile = await _private_client(contacts)

    async def found(headers: dict[str, str], q: str) -> list[str]:
        answer = await contacts.api.get("/clients", params={"q": q}, headers=headers)
        assert answer.status_code == 200, answer.text
        return [c["id"] for c in answer.json()["items"]]

    assert client["id"] in await found(_as(contacts, "marketing"), mailbox)
    assert client["id"] in await found(_as(contacts, "marketing"), mobile)
    head = _as(contacts, "department-head")
    assert await found(head, mailbox) == []
    assert await found(head, mobile) == []
    assert client["id"] in await found(head, client["name"])
