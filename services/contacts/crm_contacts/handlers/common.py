"""What the use cases share: loading live aggregates, field paths, version checks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime

from crm_contacts import domain
from crm_contacts.commands import AddPerson, NewPerson
from crm_contacts.repository import ClientRepository, EmployeeRepository
from crm_kit.problems import Conflict, NotFound, VersionConflict
from crm_kit.refusals import Refusals, Refused, refusals_of


def in_request(prefix: str) -> Callable[[Exception], None]:
    """Make a domain error's bare field (``channels.email``) the path the caller sent it at
    (``body.people[0].channels.email``); a field already naming its origin stays."""

    def prefixed(exc: Exception) -> None:
        field = getattr(exc, "field", None)
        if isinstance(exc, domain.ContactsError) and field and not field.startswith(_ORIGINS):
            exc.field = f"{prefix}.{field}"

    return prefixed


_ORIGINS = ("body", "query", "path", "header")


@contextlib.contextmanager
def fields_in(prefix: str) -> Iterator[None]:
    """Domain errors name bare fields; an HTTP caller sees where they sent them (``body.x``),
    each of them when the domain refused several values at once."""
    try:
        yield
    except (domain.ContactsError, Refused) as exc:
        prefixed = in_request(prefix)
        for error in refusals_of(exc) or (exc,):
            prefixed(error)
        raise


def request_refusals() -> Refusals:
    """A collector of the value refusals (422) of one request's independent parts."""
    return Refusals(domain.InvalidInputError)


def check_version(entity: str, current: int, expected: int) -> None:
    if current != expected:
        raise VersionConflict(
            f"{entity} is at version {current}, not {expected}", current_version=current
        )


def merged_problem(client_id: str, survivor_id: str) -> Conflict:
    return Conflict(
        f"client {client_id} was merged into {survivor_id}",
        extra={"survivor_client_id": survivor_id, "survivor": f"/clients/{survivor_id}"},
    )


async def load_client(clients: ClientRepository, client_id: str) -> domain.Client:
    """A live client; a merged one answers 409 pointing at its survivor."""
    client = await clients.get(client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    if client.merged_into is not None:
        raise merged_problem(client_id, client.merged_into)
    return client


async def load_employee(employees: EmployeeRepository, employee_id: str) -> domain.Employee:
    employee = await employees.get(employee_id)
    if employee is None:
        raise NotFound(f"employee {employee_id} not found")
    return employee


async def referenced_employee(
    employees: EmployeeRepository, employee_id: str, *, field: str
) -> domain.Employee:
    employee = await employees.get(employee_id)
    if employee is None:
        raise domain.UnknownReference(f"there is no employee {employee_id}", field=field)
    return employee


def add_person_to(
    client: domain.Client,
    new: NewPerson | AddPerson,
    *,
    person_id: str,
    now: datetime,
    prefix: str,
) -> tuple[domain.Client, list[domain.Fact], domain.Channels]:
    """Read the person's channels and add the person, refusing every bad value at once, each
    at its path under ``prefix``."""
    refusals = request_refusals()
    channels = domain.Channels()
    with refusals.check(in_request(prefix)):
        channels = domain.Channels.parse(new.channels, region=client.country)
    # Unreadable channels leave the preferred channel and the consents unjudgeable (they name
    # channels); the person's other values are still checked.
    readable = not refusals
    updated, happened = client, list[domain.Fact]()
    with refusals.check(in_request(prefix)):
        updated, happened = client.add_person(
            person_id=person_id,
            name=new.name,
            language=new.language,
            channels=channels,
            now=now,
            position=new.position,
            department=new.department,
            preferred_channel=new.preferred_channel if readable else None,
            consented=new.consents if readable else (),
        )
    refusals.raise_if_any()
    return updated, happened, channels
