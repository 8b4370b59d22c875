"""Use cases on a client's people: add, update, consent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

from crm_contacts import commands, domain, events
from crm_contacts.domain import matching
from crm_contacts.handlers.common import (
    add_person_to,
    check_version,
    fields_in,
    in_request,
    load_client,
    request_refusals,
)
from crm_contacts.repository import ClientRepository, Page
from crm_contacts.repository.pagination import decode_cursor, encode_cursor
from crm_contracts.values import Channel
from crm_kit.clock import utc_now
from crm_kit.problems import Conflict, VersionConflict
from crm_kit.runtime import Runtime

T = TypeVar("T")
_ATTEMPTS = 3
UNSUBSCRIBE_SOURCE = "unsubscribe_link"
"""The ``source`` of a consent withdrawn through a message's unsubscribe link."""
log = logging.getLogger(__name__)


async def retrying(step: Callable[[], Awaitable[T]]) -> T:
    """Re-run a load-act-save step that lost a race on the client document.

    Adding a person or recording consent asks for no ``If-Match`` (neither overwrites what the
    caller read), so a concurrent write to the same client is simply retried on fresh state.
    """
    for attempt in range(_ATTEMPTS):
        try:
            return await step()
        except VersionConflict:
            if attempt == _ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def person_candidates(keys: tuple[str, ...], found: list[domain.Client]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for client in found:
        for person in client.people:
            theirs = matching.person_keys(client.client_id, person.name, person.channels)
            why = matching.reasons(keys, theirs)
            if why:
                out.append(
                    {
                        "client_id": client.client_id,
                        "person_id": person.person_id,
                        "name": person.name,
                        "reasons": list(why),
                    }
                )
    return out


async def add_person(
    runtime: Runtime, command: commands.AddPerson
) -> tuple[domain.Client, domain.Person]:
    repo = ClientRepository(runtime)
    person_id = str(uuid.uuid4())

    async def step() -> tuple[domain.Client, domain.Person]:
        client = await load_client(repo, command.client_id)
        now = utc_now()
        updated, happened, channels = add_person_to(
            client, command, person_id=person_id, now=now, prefix="body"
        )
        if not command.insist:
            keys = matching.person_keys(client.client_id, command.name, channels)
            candidates = person_candidates(keys, await repo.matching(keys))
            if candidates:
                raise Conflict(
                    f"{len(candidates)} existing person(s) look like the same one; "
                    "add anyway with ?insist=true",
                    extra={"candidates": candidates},
                )
        saved = await repo.save(
            updated,
            events.client_events(updated, happened, now=now),
            expected_version=client.version,
        )
        return saved, saved.person(person_id)

    return await retrying(step)


async def update_person(
    runtime: Runtime, command: commands.UpdatePerson
) -> tuple[domain.Client, domain.Person]:
    repo = ClientRepository(runtime)

    async def step() -> tuple[domain.Client, domain.Person]:
        client = await load_client(repo, command.client_id)
        person = client.person(command.person_id)
        check_version(f"person {person.person_id}", person.version, command.expected_version)
        now = utc_now()
        changes = dict(command.changes)
        refusals = request_refusals()
        if "channels" in changes:
            with refusals.check(in_request("body")):
                changes["channels"] = person.channels.merged_with(
                    changes["channels"], region=client.country
                )
            if refusals:
                # Unreadable channels leave the preferred channel unjudgeable; the name is not.
                changes = {k: v for k, v in changes.items() if k == "name"}
        updated, happened = client, list[domain.Fact]()
        with refusals.check(in_request("body")):
            updated, happened = client.update_person(person.person_id, changes, now=now)
        refusals.raise_if_any()
        if not happened:
            return client, person
        saved = await repo.save(
            updated,
            events.client_events(updated, happened, now=now),
            expected_version=client.version,
        )
        return saved, saved.person(person.person_id)

    # The person's own version was checked: a race with a write to another person of the same
    # client is retried, a race with a write to this person fails the version check above.
    return await retrying(step)


async def set_consent(
    runtime: Runtime, command: commands.SetConsent
) -> tuple[domain.Client, domain.Person]:
    repo = ClientRepository(runtime)

    async def step() -> tuple[domain.Client, domain.Person]:
        client = await load_client(repo, command.client_id)
        now = utc_now()
        with fields_in("path"):
            updated, happened = client.set_consent(
                command.person_id,
                command.channel,
                granted=command.granted,
                source=command.source,
                now=now,
            )
        if not happened:
            return client, client.person(command.person_id)
        saved = await repo.save(
            updated,
            events.client_events(updated, happened, now=now),
            expected_version=client.version,
        )
        return saved, saved.person(command.person_id)

    return await retrying(step)


async def withdraw_on_unsubscribe(
    runtime: Runtime, client_id: str, person_id: str, channel: Channel
) -> domain.Client | None:
    """The person used a message's unsubscribe link: withdraw that channel's consent (on the
    live client, should theirs have been merged since). Nothing when consent is already
    withdrawn, or when the client or person is not known here (nothing to withdraw)."""
    repo = ClientRepository(runtime)
    client = await repo.get(client_id)
    while client is not None and client.merged_into is not None:
        client = await repo.get(client.merged_into)
    if client is None or all(p.person_id != person_id for p in client.people):
        log.warning("unsubscribe of %s/%s: no such person here", client_id, person_id)
        return None
    command = commands.SetConsent(
        client_id=client.client_id,
        person_id=person_id,
        channel=channel,
        granted=False,
        source=UNSUBSCRIBE_SOURCE,
    )
    saved, _ = await set_consent(runtime, command)
    return saved


async def people_of(runtime: Runtime, client_id: str) -> domain.Client:
    return await load_client(ClientRepository(runtime), client_id)


async def people_page(
    runtime: Runtime, client_id: str, *, cursor: str | None, limit: int
) -> tuple[domain.Client, Page[domain.Person]]:
    """A client's people in the order they were added (then by id), a page at a time."""
    client = await people_of(runtime, client_id)
    people = sorted(client.people, key=lambda p: (p.added_at, p.person_id))
    if cursor is not None:
        at, person_id = decode_cursor(cursor)
        people = [p for p in people if (p.added_at, p.person_id) > (at, person_id)]
    page = people[:limit]
    next_cursor = (
        encode_cursor(page[-1].added_at, page[-1].person_id) if len(people) > limit else None
    )
    return client, Page(page, next_cursor)
