"""Routes on the company's employees."""

from __future__ import annotations

from crm_contracts.values import Department
from crm_kit.http import IdPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Response, status

from crm_contacts import commands
from crm_contacts.api.common import Cursor, IfMatch, Limit, Reader, Writer, set_etag
from crm_contacts.handlers import employees as handlers
from crm_contacts.schemas.common import Page
from crm_contacts.schemas.employees import EmployeeCreate, EmployeeOut, EmployeePatch

router = APIRouter(tags=["employees"])


@router.post(
    "/employees",
    status_code=status.HTTP_201_CREATED,
    response_model=EmployeeOut,
    responses=problem_responses(422),
    summary="Register an employee of the company",
)
async def register_employee(
    body: EmployeeCreate, runtime: RuntimeDep, _: Writer, response: Response
) -> EmployeeOut:
    employee = await handlers.register_employee(runtime, body.to_command())
    response.headers["Location"] = f"/employees/{employee.employee_id}"
    set_etag(response, employee.version)
    return EmployeeOut.of(employee)


@router.get(
    "/employees",
    response_model=Page[EmployeeOut],
    responses=problem_responses(422),
    summary="Employees, by department and active flag, in registration order",
)
async def list_employees(
    runtime: RuntimeDep,
    _: Reader,
    cursor: Cursor,
    department: Department | None = None,
    active: bool | None = None,
    limit: Limit = 50,
) -> Page[EmployeeOut]:
    page = await handlers.list_employees(
        runtime, department=department, active=active, cursor=cursor.position, limit=limit
    )
    return Page[EmployeeOut](
        items=[EmployeeOut.of(e) for e in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.get(
    "/employees/{employee_id}",
    response_model=EmployeeOut,
    responses=problem_responses(404),
    summary="One employee",
)
async def get_employee(
    employee_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> EmployeeOut:
    employee = await handlers.get_employee(runtime, employee_id)
    set_etag(response, employee.version)
    return EmployeeOut.of(employee)


@router.patch(
    "/employees/{employee_id}",
    response_model=EmployeeOut,
    responses=problem_responses(404, 412, 422, 428),
    summary="Change an employee (department, role, channels, active flag)",
)
async def update_employee(
    employee_id: IdPath,
    body: EmployeePatch,
    _: Writer,
    version: IfMatch,
    runtime: RuntimeDep,
    response: Response,
) -> EmployeeOut:
    command = commands.UpdateEmployee(employee_id, version, body.changes())
    employee = await handlers.update_employee(runtime, command)
    set_etag(response, employee.version)
    return EmployeeOut.of(employee)
