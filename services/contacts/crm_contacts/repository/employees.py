"""Queries on the company's employees."""

from __future__ import annotations

from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import Department
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_contacts import domain
from crm_contacts.repository.documents import employee_doc, employee_of, without_id
from crm_contacts.repository.pagination import Page, after, page_of

EMPLOYEES = "employees"


class EmployeeRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.employees = runtime.outbox(EMPLOYEES, entity="employee")
        self.collection = self.employees.collection
        self.runtime = runtime

    async def add(self, employee: domain.Employee, event: ContractEvent) -> domain.Employee:
        return employee_of(await self.employees.insert(employee_doc(employee), [event]))

    async def save(
        self, employee: domain.Employee, event: ContractEvent, *, expected_version: int
    ) -> domain.Employee:
        doc = await self.employees.update(
            employee.employee_id,
            {"$set": without_id(employee_doc(employee))},
            [event],
            expected_version=expected_version,
        )
        return employee_of(doc)

    async def get(self, employee_id: str) -> domain.Employee | None:
        doc: Document | None = await self.collection.find_one({"_id": employee_id})
        return employee_of(doc) if doc else None

    async def list(
        self,
        *,
        department: Department | None,
        active: bool | None,
        cursor: str | None,
        limit: int,
    ) -> Page[domain.Employee]:
        clauses: list[dict[str, Any]] = []
        if department is not None:
            clauses.append({"department": department.value})
        if active is not None:
            clauses.append({"active": active})
        resume = after("registered_at", cursor)
        if resume:
            clauses.append(resume)
        query = {"$and": clauses} if clauses else {}
        found = (
            self.collection.find(query).sort([("registered_at", 1), ("_id", 1)]).limit(limit + 1)
        )
        kept, next_cursor = page_of([d async for d in found], "registered_at", limit)
        return Page([employee_of(d) for d in kept], next_cursor)
