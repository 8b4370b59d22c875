"""Erasing a person (or every person of a client) and exporting what contacts holds about one.

Erasure destroys the person's data keys first (``crm_kit.sealing``), so that no event about
them, pending or already on the topics, reads as anything but erased; then it forgets the
person in every client document that holds them (the live client and a merged one's copy),
publishing ``PersonErased`` for the other services (and for contacts' own timeline, whose
consumer rewrites the entry that named them). Repeating it finds the person erased and changes
nothing (docs/decisions/0074).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from crm_contacts import domain, events
from crm_contacts.domain.errors import PersonNotFound
from crm_contacts.handlers.intake import derived_id
from crm_contacts.repository import ClientRepository, RecordRepository, TimelineRepository
from crm_contacts.schemas.people import PersonOut
from crm_contacts.schemas.records import ContactOut
from crm_contracts.personal import CLIENT_SUBJECT, PERSON_SUBJECT, RESPONSE_SUBJECT, subject_id
from crm_contracts.values import ClientKind
from crm_kit.clock import utc_now
from crm_kit.personal_data import PersonalData, jsonable
from crm_kit.problems import NotFound, VersionConflict
from crm_kit.runtime import Runtime

_ATTEMPTS = 3


@dataclass(frozen=True)
class Erasure:
    person_id: str
    client_id: str
    erased_at: datetime
    already: bool
    """Whether the person was erased before this request (nothing changed)."""


def subjects_of(client: domain.Client, person_id: str) -> tuple[str, ...]:
    """The key vault subjects sealing the person's data: theirs, and the questionnaire response
    they were registered from while unknown (its id names the person, ``intake``)."""
    subjects = [subject_id(PERSON_SUBJECT, person_id)]
    response_id = client.source.questionnaire_response_id
    if response_id and derived_id("person", response_id) == person_id:
        subjects.append(subject_id(RESPONSE_SUBJECT, response_id))
    return tuple(subjects)


def client_subjects(client: domain.Client) -> tuple[str, ...]:
    """Every key vault subject sealing the client's personal data: each person's (with the
    response they came from) and, for a private person, the client's own details."""
    subjects = [s for p in client.people for s in subjects_of(client, p.person_id)]
    if client.kind is ClientKind.PERSON:
        subjects.append(subject_id(CLIENT_SUBJECT, client.client_id))
    return tuple(dict.fromkeys(subjects))


async def answered_subjects(
    runtime: Runtime, *, person_id: str | None = None, client_id: str | None = None
) -> tuple[str, ...]:
    """The key vault subjects of the questionnaires the person (or the client's people)
    answered while already known: each response's respondent details are sealed under it."""
    responses = await RecordRepository(runtime).questionnaires_answered(
        person_id=person_id, client_id=client_id
    )
    return tuple(subject_id(RESPONSE_SUBJECT, r) for r in responses)


async def erase_person(runtime: Runtime, person_id: str) -> Erasure:
    repo = ClientRepository(runtime)
    holders = await repo.holding_person(person_id)
    if not holders:
        raise PersonNotFound(f"no client has a person {person_id}", field="person_id")
    live = next((c for c in holders if c.merged_into is None), holders[0])
    already = all(c.person(person_id).erased_at is not None for c in holders)
    answered = await answered_subjects(runtime, person_id=person_id)
    subjects = tuple(
        dict.fromkeys([*(s for c in holders for s in subjects_of(c, person_id)), *answered])
    )
    if runtime.sealer is not None:
        await runtime.sealer.vault.destroy(subjects)
    for client in holders:
        await _forget_in(
            repo,
            client.client_id,
            lambda c, now: c.erase_person(person_id, subjects=subjects, now=now),
        )
    # The timeline's entry naming them, at once (the PersonErased consumer does it as well, for
    # a replay of the topic): what the person's data shows as erased holds nothing of them.
    await TimelineRepository(runtime).forget_person(person_id)
    erased = (await repo.get(live.client_id) or live).person(person_id).erased_at
    return Erasure(person_id, live.client_id, erased or utc_now(), already)


async def _forget_in(
    repo: ClientRepository,
    client_id: str,
    forget: Callable[[domain.Client, datetime], tuple[domain.Client, list[domain.Fact]]],
) -> None:
    """Load the client, let ``forget`` erase what it erases, save with its events; a race with
    another write to the client is retried on fresh state, an erased state changes nothing."""
    for attempt in range(_ATTEMPTS):
        client = await repo.get(client_id)
        if client is None:
            return
        now = utc_now()
        updated, happened = forget(client, now)
        if not happened:
            return
        try:
            await repo.save(
                updated,
                events.client_events(updated, happened, now=now),
                expected_version=client.version,
            )
            return
        except VersionConflict:
            if attempt == _ATTEMPTS - 1:
                raise


async def erase_client(runtime: Runtime, client_id: str) -> tuple[list[Erasure], bool]:
    """Erase every person of the client and, for a private person's client, its own details
    (``ClientUpdated``, sealed under the client's destroyed key: erased on the wire too); an
    organisation's details are no one's personal data and stay. Returns the people's erasures
    and whether the client's details are erased now."""
    repo = ClientRepository(runtime)
    client = await repo.get(client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    erased = [await erase_person(runtime, p.person_id) for p in client.people]
    if client.kind is not ClientKind.PERSON:
        return erased, False
    if runtime.sealer is not None:
        await runtime.sealer.vault.destroy([subject_id(CLIENT_SUBJECT, client_id)])
    await _forget_in(repo, client_id, lambda c, now: c.erase_details(now=now))
    return erased, True


async def personal_data(runtime: Runtime, person_id: str) -> PersonalData:
    """The person as contacts holds them, their contact records and their timeline entries."""
    repo = ClientRepository(runtime)
    holders = await repo.holding_person(person_id)
    people = [
        PersonOut.of(c.client_id, c.person(person_id)).model_dump(mode="json")
        for c in holders
        if c.merged_into is None
    ]
    records = await RecordRepository(runtime).of_person(person_id)
    timeline = await TimelineRepository(runtime).of_person(person_id)
    erased = bool(holders) and all(c.person(person_id).erased_at is not None for c in holders)
    return PersonalData(
        erased=erased,
        records={
            "person": people,
            "contact_records": [ContactOut.of(r).model_dump(mode="json") for r in records],
            "timeline": jsonable(timeline),
        },
    )
