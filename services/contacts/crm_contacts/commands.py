"""What callers ask the contacts service to do (imperative names)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSize,
    ClientStatus,
    ContactDirection,
    ContactKind,
    Department,
    Language,
)

from crm_contacts import domain


@dataclass(frozen=True)
class NewPerson:
    """A person given with the client at registration."""

    name: str
    language: Language
    channels: Mapping[str, str | None]
    position: str | None = None
    department: str | None = None
    preferred_channel: Channel | None = None
    consents: tuple[Channel, ...] = ()


@dataclass(frozen=True)
class RegisterClient:
    kind: ClientKind
    name: str
    tax_id: str | None = None
    country: str | None = None
    field_of_activity: domain.FieldOfActivity | None = None
    region: str | None = None
    size: ClientSize | None = None
    tags: tuple[str, ...] = ()
    website: str | None = None
    addresses: tuple[domain.Address, ...] = ()
    source: domain.Source = field(default_factory=domain.Source)
    people: tuple[NewPerson, ...] = ()
    insist: bool = False


@dataclass(frozen=True)
class UpdateClient:
    client_id: str
    expected_version: int
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class ChangeClientStatus:
    client_id: str
    expected_version: int
    to: ClientStatus
    reason: str | None = None


@dataclass(frozen=True)
class AssignCurator:
    client_id: str
    expected_version: int
    employee_id: str


@dataclass(frozen=True)
class AddPerson:
    client_id: str
    name: str
    language: Language
    channels: Mapping[str, str | None]
    position: str | None = None
    department: str | None = None
    preferred_channel: Channel | None = None
    consents: tuple[Channel, ...] = ()
    insist: bool = False


@dataclass(frozen=True)
class UpdatePerson:
    client_id: str
    person_id: str
    expected_version: int
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class SetConsent:
    client_id: str
    person_id: str
    channel: Channel
    granted: bool
    source: str = "api"


@dataclass(frozen=True)
class RegisterEmployee:
    name: str
    department: Department
    role: str
    channels: Mapping[str, str | None]
    language: Language = Language.RU
    preferred_channel: Channel | None = None
    active: bool = True


@dataclass(frozen=True)
class UpdateEmployee:
    employee_id: str
    expected_version: int
    changes: Mapping[str, Any]


@dataclass(frozen=True)
class RecordContact:
    client_id: str
    employee_id: str
    kind: ContactKind
    direction: ContactDirection
    occurred_at: datetime
    summary: str
    person_id: str | None = None
    outcome: str | None = None
    need_item_codes: tuple[str, ...] = ()
    need_tags: tuple[str, ...] = ()
    event_id: str | None = None
    proposal_id: str | None = None


@dataclass(frozen=True)
class MergeClients:
    survivor_id: str
    merged_id: str
