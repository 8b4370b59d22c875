"""The company's employees, and who may curate a client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from crm_contracts.values import Channel, Department, Language

from crm_contacts.domain.channels import Channels, check_preferred
from crm_contacts.domain.errors import InactiveEmployee, InvalidInputError, NotEligibleCurator

EDITABLE_EMPLOYEE_FIELDS = (
    "name",
    "department",
    "role",
    "language",
    "channels",
    "preferred_channel",
    "active",
)


@dataclass(frozen=True)
class Employee:
    employee_id: str
    name: str
    department: Department
    role: str
    channels: Channels
    registered_at: datetime
    language: Language = Language.RU
    preferred_channel: Channel | None = None
    active: bool = True
    updated_at: datetime | None = None
    version: int = 1

    def ensure_may_curate(self) -> None:
        """Only an active employee of the sales department may be a client's curator."""
        if not self.active:
            raise NotEligibleCurator(
                f"employee {self.employee_id} is not active", field="employee_id"
            )
        if self.department is not Department.SALES:
            raise NotEligibleCurator(
                f"employee {self.employee_id} works in {self.department.value}, "
                "and only sales employees curate clients",
                field="employee_id",
            )

    def ensure_active(self, *, field: str = "employee_id") -> None:
        if not self.active:
            raise InactiveEmployee(f"employee {self.employee_id} is not active", field=field)

    def update(
        self, changes: Mapping[str, Any], *, now: datetime
    ) -> tuple[Employee, tuple[str, ...]]:
        values = dict(changes)
        if "name" in values:
            values["name"] = " ".join(str(values["name"]).split())
            if not values["name"]:
                raise InvalidInputError("the name must not be blank", field="name")
        check_preferred(
            values.get("channels", self.channels),
            values.get("preferred_channel", self.preferred_channel),
            field="preferred_channel",
        )
        changed = tuple(
            n for n in EDITABLE_EMPLOYEE_FIELDS if n in values and values[n] != getattr(self, n)
        )
        if not changed:
            return self, ()
        updated = replace(
            self, **{n: values[n] for n in changed}, updated_at=now, version=self.version + 1
        )
        return updated, changed


def register_employee(
    *,
    employee_id: str,
    name: str,
    department: Department,
    role: str,
    channels: Channels,
    now: datetime,
    language: Language = Language.RU,
    preferred_channel: Channel | None = None,
    active: bool = True,
) -> Employee:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInputError("the name must not be blank", field="name")
    check_preferred(channels, preferred_channel, field="preferred_channel")
    return Employee(
        employee_id=employee_id,
        name=cleaned,
        department=department,
        role=role.strip(),
        channels=channels,
        registered_at=now,
        language=language,
        preferred_channel=preferred_channel,
        active=active,
    )
