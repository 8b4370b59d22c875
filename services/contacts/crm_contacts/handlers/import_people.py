"""An import's people for a client that already exists (the same tax id): added once.

A file sent again, or a new file listing more people of a client already registered, adds the
people the client does not have yet. A person the client already has (the same e-mail or
phone, or the same name within the client: the duplicate rules of people) is reported, not
added again, so a re-run adds nothing. The people added and their consents (source
``import``) are one write of the client with its ``PersonAdded`` and ``ConsentChanged`` facts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from crm_contacts import domain, events
from crm_contacts.domain import matching
from crm_contacts.handlers.common import load_client
from crm_contacts.handlers.people import retrying
from crm_contacts.repository import ClientRepository
from crm_contracts.values import Channel
from crm_kit.runtime import Runtime

ADDED = "person_added"
WOULD_ADD = "would_add_person"
EXISTS = "person_exists"


@dataclass(frozen=True)
class Incoming:
    """A person of the file, checked as the registration checks it, with the consents given."""

    line: int
    person: domain.Person
    consents: tuple[Channel, ...]


@dataclass(frozen=True)
class Joined:
    status: str
    """``person_added``, ``would_add_person`` (a dry run) or ``person_exists``."""
    person_id: str | None
    """The person added, or the one the client already had."""


def same_tax_id(client: domain.Client, found: Sequence[domain.Client]) -> domain.Client | None:
    """The one live client among ``found`` with ``client``'s tax id; none when it has none or
    several clients hold it (their duplicates are for a person to merge first)."""
    if not client.tax_id:
        return None
    holders = [c for c in found if c.tax_id == client.tax_id and c.merged_into is None]
    return holders[0] if len(holders) == 1 else None


def _already(client: domain.Client, person: domain.Person) -> domain.Person | None:
    keys = set(matching.person_keys(client.client_id, person.name, person.channels))
    for there in client.people:
        if keys & set(matching.person_keys(client.client_id, there.name, there.channels)):
            return there
    return None


async def add_people(
    runtime: Runtime,
    client_id: str,
    people: Sequence[Incoming],
    *,
    dry_run: bool,
    now: datetime,
) -> dict[int, Joined]:
    """Add to the client the people it does not have (in a dry run: say which it would);
    the outcome by the file's line."""
    repo = ClientRepository(runtime)

    async def step() -> dict[int, Joined]:
        client = await load_client(repo, client_id)
        updated, happened = client, list[domain.Fact]()
        outcome: dict[int, Joined] = {}
        for incoming in people:
            person = incoming.person
            there = _already(updated, person)
            if there is not None:
                outcome[incoming.line] = Joined(EXISTS, there.person_id)
                continue
            # Added in a dry run too: a later row with the same e-mail is then reported as
            # the person this one adds, as the real run would find it.
            updated, added = updated.add_person(
                person_id=person.person_id,
                name=person.name,
                language=person.language,
                channels=person.channels,
                now=now,
                position=person.position,
                department=person.department,
                preferred_channel=person.preferred_channel,
            )
            happened.extend(added)
            for channel in incoming.consents:
                updated, given = updated.set_consent(
                    person.person_id, channel, granted=True, source="import", now=now
                )
                happened.extend(given)
            outcome[incoming.line] = (
                Joined(WOULD_ADD, None) if dry_run else Joined(ADDED, person.person_id)
            )
        if happened and not dry_run:
            await repo.save(
                updated,
                events.client_events(updated, happened, now=now),
                expected_version=client.version,
            )
        return outcome

    return await retrying(step)
