"""What the use cases share: loading live aggregates, field paths, version checks."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from crm_contacts import domain
from crm_contacts.repository import ClientRepository, EmployeeRepository
from crm_kit.problems import Conflict, NotFound, VersionConflict


@contextlib.contextmanager
def fields_in(prefix: str) -> Iterator[None]:
    """Domain errors name bare fields; an HTTP caller sees where they sent them (``body.x``)."""
    try:
        yield
    except domain.ContactsError as exc:
        if exc.field and not exc.field.startswith(("body", "query", "path", "header")):
            exc.field = f"{prefix}.{exc.field}"
        raise


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
