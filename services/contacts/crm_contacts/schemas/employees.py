"""HTTP shapes of the company's employees."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from crm_contracts.values import Channel, Department, Language
from pydantic import BaseModel, Field

from crm_contacts import commands, domain
from crm_contacts.schemas.common import ChannelsIn, ChannelsOut, Strict

Role = Annotated[str, Field(min_length=1, max_length=100)]


class EmployeeCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    department: Department
    role: Role
    language: Language = Language.RU
    channels: ChannelsIn = Field(default_factory=ChannelsIn)
    preferred_channel: Channel | None = None
    active: bool = True

    def to_command(self) -> commands.RegisterEmployee:
        return commands.RegisterEmployee(
            name=self.name,
            department=self.department,
            role=self.role,
            channels=self.channels.model_dump(),
            language=self.language,
            preferred_channel=self.preferred_channel,
            active=self.active,
        )


class EmployeePatch(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    department: Department | None = None
    role: Role | None = None
    language: Language | None = None
    channels: ChannelsIn | None = None
    preferred_channel: Channel | None = None
    active: bool | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "channels":
                value = value.model_dump(exclude_unset=True) if value else {}
            elif name != "preferred_channel" and value is None:
                continue
            out[name] = value
        return out


class EmployeeOut(BaseModel):
    id: str
    name: str
    department: Department
    role: str
    language: Language
    channels: ChannelsOut
    preferred_channel: Channel | None
    active: bool
    registered_at: datetime
    version: int

    @classmethod
    def of(cls, e: domain.Employee) -> EmployeeOut:
        return cls(
            id=e.employee_id,
            name=e.name,
            department=e.department,
            role=e.role,
            language=e.language,
            channels=ChannelsOut(**{c.value: e.channels.address(c) for c in Channel}),
            preferred_channel=e.preferred_channel,
            active=e.active,
            registered_at=e.registered_at,
            version=e.version,
        )
