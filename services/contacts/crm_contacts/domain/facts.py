"""What happened to a client: the facts its operations record (translated in ``events.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm_contracts.values import ClientStatus

from crm_contacts.domain.channels import Consent


@dataclass(frozen=True)
class ClientRegistered:
    by: str | None


@dataclass(frozen=True)
class ClientUpdated:
    changed: tuple[str, ...]
    by: str | None


@dataclass(frozen=True)
class StatusChanged:
    from_status: ClientStatus
    to_status: ClientStatus
    reason: str | None
    by: str | None


@dataclass(frozen=True)
class PersonAdded:
    person_id: str


@dataclass(frozen=True)
class PersonUpdated:
    person_id: str
    changed: tuple[str, ...]


@dataclass(frozen=True)
class PersonErased:
    person_id: str
    subjects: tuple[str, ...]
    """The key vault subjects whose keys the erasure destroyed."""


@dataclass(frozen=True)
class ConsentChanged:
    person_id: str
    consent: Consent


@dataclass(frozen=True)
class CuratorAssigned:
    curator_id: str
    previous: str | None
    by: str | None


Fact = (
    ClientRegistered
    | ClientUpdated
    | StatusChanged
    | PersonAdded
    | PersonUpdated
    | PersonErased
    | ConsentChanged
    | CuratorAssigned
)


@dataclass(frozen=True)
class ClientExpired:
    """A prospect deleted at the end of its retention period, with what went with it."""

    person_ids: tuple[str, ...]
    contact_ids: tuple[str, ...]
    merged_client_ids: tuple[str, ...]
    last_activity_at: datetime
    retention_days: int
    at: datetime
