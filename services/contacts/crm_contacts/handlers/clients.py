"""Use cases on clients: register, read, update, status, curator, search."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from crm_contacts import commands, domain, events
from crm_contacts.domain import matching
from crm_contacts.handlers.common import (
    add_person_to,
    check_version,
    fields_in,
    in_request,
    load_client,
    referenced_employee,
    request_refusals,
)
from crm_contacts.repository import ClientFilter, ClientRepository, EmployeeRepository, Page
from crm_contracts.values import ClientStatus
from crm_kit.clock import utc_now
from crm_kit.problems import Conflict, NotFound
from crm_kit.runtime import Runtime


def client_candidates(keys: tuple[str, ...], found: list[domain.Client]) -> list[dict[str, object]]:
    return [
        {
            "id": c.client_id,
            "name": c.name,
            "status": c.status.value,
            "reasons": list(matching.reasons(keys, c.match_keys())),
        }
        for c in found
    ]


@dataclass(frozen=True)
class NewClient:
    """A client built from a registration, not stored yet, with the keys it is matched by."""

    client: domain.Client
    happened: list[domain.Fact]
    keys: tuple[str, ...]


def new_client(
    command: commands.RegisterClient,
    *,
    by: str | None,
    now: datetime,
    prefix: str = "body",
    person_prefixes: Sequence[str] = (),
) -> NewClient:
    """The client and its people as the domain builds them, every bad value refused at once.

    A refused value's field is the path it was sent at: under ``prefix`` for the client's own,
    under ``person_prefixes[i]`` (else ``<prefix>.people[i]``) for the i-th person's.
    """
    # The client's own values and each person's are checked apart, so that every bad value
    # of the request is refused at once, each at the path it was sent at.
    refusals = request_refusals()
    with refusals.check(in_request(prefix)):
        client, happened = domain.register_client(
            client_id=str(uuid.uuid4()),
            kind=command.kind,
            name=command.name,
            now=now,
            by=by,
            tax_id=command.tax_id,
            country=command.country,
            field_of_activity=command.field_of_activity,
            region=command.region,
            size=command.size,
            tags=command.tags,
            website=command.website,
            addresses=command.addresses,
            source=command.source,
        )
    if refusals:
        # The people are still checked, on a stand-in that has what they are checked
        # against (the country their phone numbers are read in); it is never stored.
        client, happened = domain.register_client(
            client_id="unsaved", kind=command.kind, name="unsaved", now=now, country=command.country
        )
    keys = list(client.own_keys())
    for at, new in enumerate(command.people):
        at_path = person_prefixes[at] if at < len(person_prefixes) else f"{prefix}.people[{at}]"
        with refusals.check():
            client, added, channels = add_person_to(
                client, new, person_id=str(uuid.uuid4()), now=now, prefix=at_path
            )
            happened.extend(added)
            keys.extend(matching.channel_keys(channels))
    refusals.raise_if_any()
    client = replace(client, version=1)  # one new document carrying every fact
    return NewClient(client, happened, tuple(dict.fromkeys(keys)))


async def register_client(
    runtime: Runtime, command: commands.RegisterClient, *, by: str | None
) -> domain.Client:
    """Register a potential client; a likely duplicate is refused unless the caller insists."""
    now = utc_now()
    new = new_client(command, by=by, now=now)
    repo = ClientRepository(runtime)
    if not command.insist:
        found = await repo.matching(new.keys)
        if found:
            raise Conflict(
                f"{len(found)} existing client(s) look like the same one; "
                "register anyway with ?insist=true, or merge",
                extra={"candidates": client_candidates(new.keys, found)},
            )
    return await store_client(runtime, new, now=now)


async def store_client(runtime: Runtime, new: NewClient, *, now: datetime) -> domain.Client:
    """Store a new client with its facts' events in its outbox, in one write."""
    return await ClientRepository(runtime).add(
        new.client, events.client_events(new.client, new.happened, now=now)
    )


async def get_client(runtime: Runtime, client_id: str) -> domain.Client:
    """Any client, a merged one included (the API turns it into a pointer)."""
    client = await ClientRepository(runtime).get(client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    return client


async def update_client(
    runtime: Runtime, command: commands.UpdateClient, *, by: str | None
) -> domain.Client:
    repo = ClientRepository(runtime)
    client = await load_client(repo, command.client_id)
    check_version(f"client {client.client_id}", client.version, command.expected_version)
    now = utc_now()
    with fields_in("body"):
        updated, happened = client.update(command.changes, now=now, by=by)
    if not happened:
        return client
    return await repo.save(
        updated, events.client_events(updated, happened, now=now), expected_version=client.version
    )


async def change_status(
    runtime: Runtime, command: commands.ChangeClientStatus, *, by: str | None
) -> domain.Client:
    repo = ClientRepository(runtime)
    client = await load_client(repo, command.client_id)
    check_version(f"client {client.client_id}", client.version, command.expected_version)
    now = utc_now()
    with fields_in("body"):
        updated, happened = client.change_status(command.to, reason=command.reason, now=now, by=by)
    return await repo.save(
        updated, events.client_events(updated, happened, now=now), expected_version=client.version
    )


WON_MAKES_ACTIVE = frozenset({ClientStatus.POTENTIAL, ClientStatus.FORMER})
"""The statuses a won deal moves to active: a prospect's first deal, a former client's return.
Partners and dealers keep their status."""


async def activate_on_win(
    runtime: Runtime, client_id: str, proposal_id: str
) -> domain.Client | None:
    """Make the (live) client of a won proposal active, if it was potential or former; nothing
    otherwise, so a redelivered ``ProposalWon`` changes nothing."""
    repo = ClientRepository(runtime)
    client = await repo.get(client_id)
    while client is not None and client.merged_into is not None:
        client = await repo.get(client.merged_into)
    if client is None or client.status not in WON_MAKES_ACTIVE:
        return None
    now = utc_now()
    updated, happened = client.change_status(
        ClientStatus.ACTIVE, reason=f"won proposal {proposal_id}", now=now, by=None
    )
    return await repo.save(
        updated, events.client_events(updated, happened, now=now), expected_version=client.version
    )


async def assign_curator(
    runtime: Runtime, command: commands.AssignCurator, *, by: str | None
) -> domain.Client:
    repo = ClientRepository(runtime)
    client = await load_client(repo, command.client_id)
    check_version(f"client {client.client_id}", client.version, command.expected_version)
    now = utc_now()
    with fields_in("body"):
        employee = await referenced_employee(
            EmployeeRepository(runtime), command.employee_id, field="employee_id"
        )
        employee.ensure_may_curate()
        updated, happened = client.assign_curator(employee.employee_id, now=now, by=by)
    return await repo.save(
        updated, events.client_events(updated, happened, now=now), expected_version=client.version
    )


async def search_clients(
    runtime: Runtime, where: ClientFilter, *, cursor: str | None, limit: int
) -> Page[domain.Client]:
    return await ClientRepository(runtime).search(where, cursor=cursor, limit=limit)
