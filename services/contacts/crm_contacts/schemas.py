"""HTTP request and response shapes of the contacts API."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.values import ClientKind, ClientSize, ClientSourceKind, ClientStatus
from pydantic import BaseModel, ConfigDict, Field


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ClientKind = ClientKind.ORGANISATION
    name: str = Field(min_length=1, max_length=300)
    tax_id: str | None = Field(default=None, max_length=32)
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    region: str | None = Field(default=None, max_length=100)
    size: ClientSize | None = None
    tags: list[str] = Field(default_factory=list, max_length=50)
    website: str | None = Field(default=None, max_length=300)
    source: ClientSourceKind = ClientSourceKind.MANUAL
    source_event_id: str | None = None


class ClientOut(BaseModel):
    id: str
    kind: ClientKind
    name: str
    status: ClientStatus
    tax_id: str | None
    country: str | None
    region: str | None
    size: ClientSize | None
    tags: list[str]
    website: str | None
    source: ClientSourceKind
    registered_at: datetime
    version: int
