"""Erasing a private person's client over HTTP: its people and its own details, once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from crm_contracts.personal import ERASED
from crm_kit.testing import bearer

from .conftest import Contacts


async def test_erasing_a_private_persons_client_forgets_them_and_their_details_once(
    contacts: Contacts,
) -> None:
    officer = bearer(contacts.keys, "contacts:read", "contacts:admin", roles=("data-protection",))
    client = await contacts.register(kind="person", name="Olga Smirnova", tax_id="500100732259")
    person = await contacts.add_person(client["id"], name="Olga Smirnova")
    since = await contacts.offsets()

    first = await contacts.api.post(f"/clients/{client['id']}/erasure", headers=officer)
    again = await contacts.api.post(f"/clients/{client['id']}/erasure", headers=officer)

    assert first.status_code == 200, first.text
    assert first.json()["details_erased"] is True
    assert [p["already_erased"] for p in first.json()["people"]] == [False]
    assert [p["already_erased"] for p in again.json()["people"]] == [True]
    shown = (await contacts.api.get(f"/clients/{client['id']}", headers=contacts.admin)).json()
    assert (shown["name"], shown["tax_id"]) == (ERASED, None)
    erased = await contacts.events(
        since, client["id"], until=2, only=("PersonErased", "ClientUpdated")
    )
    by_type = {e.event_type: e.payload for e in erased}
    assert sorted(by_type) == ["ClientUpdated", "PersonErased"]
    assert by_type["PersonErased"]["person_id"] == person["id"]
    assert (by_type["ClientUpdated"]["name"], by_type["ClientUpdated"]["tax_id"]) == (ERASED, None)


async def test_only_data_protection_erases(contacts: Contacts) -> None:
    client = await contacts.register()
    person = await contacts.add_person(client["id"])

    refused = await contacts.api.post(f"/people/{person['id']}/erasure", headers=contacts.admin)

    assert refused.status_code == 403
    assert refused.json()["allowed_roles"] == ["data-protection"]


async def test_the_timeline_entry_naming_an_erased_person_is_forgotten_with_the_erasure(
    contacts: Contacts,
) -> None:
    """At once, not when the erasure comes back from the topic: the person's data reads as
    erased as soon as the erasure is answered, and holds nothing of them."""
    officer = bearer(contacts.keys, "contacts:read", "contacts:admin", roles=("data-protection",))
    client = await contacts.register()
    person = await contacts.add_person(client["id"], name="Vera Zabytova")
    # The entry the timeline's consumer writes for the PersonAdded (this app runs none).
    entry = {
        "_id": str(uuid.uuid4()),
        "client_id": client["id"],
        "at": datetime.now(UTC),
        "kind": "person_added",
        "source": "contacts",
        "summary": "Person added: Vera Zabytova",
        "refs": {"person_id": person["id"]},
        "actor": None,
    }
    await contacts.db["timeline"].insert_one(entry)

    erased = await contacts.api.post(f"/people/{person['id']}/erasure", headers=officer)

    assert erased.status_code == 200, erased.text
    held = await contacts.api.get(f"/people/{person['id']}/personal-data", headers=officer)
    assert held.status_code == 200, held.text
    assert held.json()["erased"] is True
    assert "Zabytova" not in held.text
    kept = await contacts.db["timeline"].find_one({"_id": entry["_id"]})
    assert kept["summary"] == f"Person added: {ERASED}"
