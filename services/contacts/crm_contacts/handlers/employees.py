"""Use cases on the company's employees."""

from __future__ import annotations

import uuid

from crm_contacts import commands, domain, events
from crm_contacts.handlers.common import check_version, fields_in, load_employee
from crm_contacts.repository import EmployeeRepository, Page
from crm_contracts.values import Department
from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime


async def register_employee(
    runtime: Runtime, command: commands.RegisterEmployee
) -> domain.Employee:
    with fields_in("body"):
        employee = domain.register_employee(
            employee_id=str(uuid.uuid4()),
            name=command.name,
            department=command.department,
            role=command.role,
            channels=domain.Channels.parse(command.channels),
            now=utc_now(),
            language=command.language,
            preferred_channel=command.preferred_channel,
            active=command.active,
        )
    return await EmployeeRepository(runtime).add(employee, events.employee_registered(employee))


async def update_employee(runtime: Runtime, command: commands.UpdateEmployee) -> domain.Employee:
    repo = EmployeeRepository(runtime)
    employee = await load_employee(repo, command.employee_id)
    check_version(f"employee {employee.employee_id}", employee.version, command.expected_version)
    now = utc_now()
    changes = dict(command.changes)
    with fields_in("body"):
        if "channels" in changes:
            changes["channels"] = employee.channels.merged_with(changes["channels"], region=None)
        updated, changed = employee.update(changes, now=now)
    if not changed:
        return employee
    return await repo.save(
        updated,
        events.employee_updated(updated, changed, now=now),
        expected_version=employee.version,
    )


async def get_employee(runtime: Runtime, employee_id: str) -> domain.Employee:
    return await load_employee(EmployeeRepository(runtime), employee_id)


async def list_employees(
    runtime: Runtime,
    *,
    department: Department | None,
    active: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[domain.Employee]:
    return await EmployeeRepository(runtime).list(
        department=department, active=active, cursor=cursor, limit=limit
    )
