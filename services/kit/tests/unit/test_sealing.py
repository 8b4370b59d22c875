"""Personal fields sealed under a person's key: readable with it, erased without it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime

from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.personal import ERASED
from crm_kit.sealing import KeyVault, Sealer
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

AT = datetime(2026, 12, 6, 12, tzinfo=UTC)


class MemoryVault(KeyVault):
    """The key vault in a dict: a key per subject, ``None`` once destroyed."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes | None] = {}
        self.reads = 0

    async def keys_for(self, subjects: Iterable[str]) -> dict[str, bytes | None]:
        self.reads += 1
        wanted = set(subjects)
        for subject in wanted:
            if subject not in self.stored:
                self.stored[subject] = AESGCM.generate_key(bit_length=256)
        return {subject: self.stored[subject] for subject in wanted}

    async def existing_keys(self, subjects: Iterable[str]) -> dict[str, bytes | None]:
        self.reads += 1
        return {subject: self.stored.get(subject) for subject in set(subjects)}

    async def destroy(self, subjects: Iterable[str]) -> None:
        for subject in subjects:
            self.stored[subject] = None


def _person() -> PersonAdded:
    return PersonAdded.model_validate(
        {
            "client_id": "c-1",
            "person_id": "p-1",
            "name": "Анна Смирнова",
            "position": "Engineer",
            "language": "ru",
            "channels": {"email": "anna@client.example", "phone": "+74951234567"},
            "version": 1,
            "added_at": AT,
        }
    )


async def _sealed_record(sealer: Sealer) -> Envelope:
    event = _person()
    value = Envelope.wrap(event, producer="contacts").to_bytes().decode()
    return Envelope.from_bytes(await sealer.seal_record(event.event_type, value))


async def test_a_sealed_person_reveals_neither_name_nor_addresses_on_the_wire() -> None:
    sealer = Sealer(MemoryVault())

    record = await _sealed_record(sealer)

    wire = json.dumps(record.payload, ensure_ascii=False)
    for secret in ("Анна", "anna@client.example", "+74951234567", "Engineer"):
        assert secret not in wire
    assert (record.payload["person_id"], record.payload["language"]) == ("p-1", "ru")


async def test_a_consumer_with_the_key_reads_the_person_as_they_were() -> None:
    sealer = Sealer(MemoryVault())
    record = await _sealed_record(sealer)

    opened = (await sealer.unseal(record)).open_as(PersonAdded)

    assert opened == _person()


async def test_once_the_key_is_destroyed_every_personal_field_reads_as_erased() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    record = await _sealed_record(sealer)

    await vault.destroy(["person:p-1"])
    opened = (await sealer.unseal(record)).open_as(PersonAdded)

    assert (opened.name, opened.position) == (ERASED, ERASED)
    assert (opened.channels.email, opened.channels.phone) == (ERASED, ERASED)
    assert opened.person_id == "p-1"


async def test_a_person_read_before_their_key_is_destroyed_reads_as_erased_after() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    record = await _sealed_record(sealer)
    before = (await sealer.unseal(record)).open_as(PersonAdded)

    await vault.destroy(["person:p-1"])
    after = (await sealer.unseal(record)).open_as(PersonAdded)

    assert before.name == "Анна Смирнова"
    assert (after.name, after.channels.email) == (ERASED, ERASED)


async def test_sealing_a_payload_leaves_the_callers_payload_as_it_was() -> None:
    payload = _person().model_dump(mode="json")
    kept = json.loads(json.dumps(payload))

    sealed = await Sealer(MemoryVault()).seal("PersonAdded", payload)

    assert payload == kept
    assert sealed["name"] != payload["name"]


async def test_an_event_about_an_erased_person_is_published_already_erased() -> None:
    vault = MemoryVault()
    await vault.destroy(["person:p-1"])

    record = await _sealed_record(Sealer(vault))

    assert record.payload["name"] == ERASED
    assert record.payload["channels"]["email"] == ERASED
    assert vault.stored == {"person:p-1": None}


async def test_an_unknown_respondents_answers_are_sealed_under_the_response() -> None:
    vault = MemoryVault()
    payload = {
        "response_id": "r-1",
        "respondent": {"name": "Мария", "channels": {"email": "maria@x.example"}},
        "answers": [{"question_id": "q", "text": "call me on +7 900"}, {"question_id": "s"}],
    }

    sealed = await Sealer(vault).seal("QuestionnaireSubmitted", payload)

    assert set(vault.stored) == {"response:r-1"}
    assert "maria" not in json.dumps(sealed)
    assert "+7 900" not in json.dumps(sealed)
    assert await Sealer(vault).unseal_payload(sealed) == payload


async def test_a_private_persons_client_details_are_sealed_an_organisations_are_not() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    state = {"client_id": "c-1", "name": "Olga Smirnova", "tax_id": "500100732259"}

    private = await sealer.seal("ClientRegistered", {**state, "kind": "person"})
    organisation = await sealer.seal("ClientRegistered", {**state, "kind": "organisation"})

    assert "Olga" not in json.dumps(private)
    assert "500100732259" not in json.dumps(private)
    assert organisation == {**state, "kind": "organisation"}
    assert set(vault.stored) == {"client:c-1"}


async def test_an_organisations_registration_holds_nothing_sealed_and_opens_as_it_came() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    state = {"client_id": "c-1", "name": "Volga Nord", "kind": "organisation"}
    record = Envelope.model_validate(
        {
            "event_id": "6a8e2f0c-1c7e-4b8e-9d7a-0f3c2b1a9e8d",
            "event_type": "ClientRegistered",
            "schema_version": 1,
            "occurred_at": AT,
            "producer": "contacts",
            "key": "c-1",
            "payload": await sealer.seal("ClientRegistered", state),
        }
    )

    assert await sealer.unseal(record) is record
    assert vault.stored == {}


async def test_a_batch_of_records_is_sealed_with_one_vault_read_as_each_alone_would_be() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    people = [_person().model_copy(update={"person_id": f"p-{n}"}) for n in range(5)]
    await vault.destroy(["person:p-3"])
    records = [
        (e.event_type, Envelope.wrap(e, producer="contacts").to_bytes().decode()) for e in people
    ]
    plain = ("Untouched", '{"not": "parsed"}')  # an event type with nothing sealed
    sealed = await sealer.seal_records([*records, plain])
    assert vault.reads == 1
    assert sealed[-1] == plain[1]
    opened = [(await sealer.unseal(Envelope.from_bytes(value))).payload for value in sealed[:-1]]
    assert [p["name"] for p in opened] == ["Анна Смирнова"] * 3 + [ERASED, "Анна Смирнова"]
    for value in sealed[:-1]:
        assert "anna@client.example" not in value
    alone = Envelope.from_bytes(await sealer.seal_record(*records[0]))
    assert (await sealer.unseal(alone)).payload == opened[0]


async def test_a_consumers_batch_is_opened_with_the_keys_read_once() -> None:
    vault = MemoryVault()
    sealer = Sealer(vault)
    people = [_person().model_copy(update={"person_id": f"p-{n}"}) for n in range(4)]
    records = [
        (e.event_type, Envelope.wrap(e, producer="contacts").to_bytes().decode()) for e in people
    ]
    envelopes = [Envelope.from_bytes(v) for v in await sealer.seal_records(records)]
    await vault.destroy(["person:p-2"])
    vault.reads = 0
    keys = await sealer.keys_of(envelopes)
    opened = [(await sealer.unseal(e, keys)).open_as(PersonAdded) for e in envelopes]
    assert vault.reads == 1
    assert [p.name for p in opened] == ["Анна Смирнова", "Анна Смирнова", ERASED, "Анна Смирнова"]
    # A key not read with the batch is read on its own.
    assert (await sealer.unseal(envelopes[0], {})).open_as(PersonAdded).name == "Анна Смирнова"
    assert vault.reads == 2
