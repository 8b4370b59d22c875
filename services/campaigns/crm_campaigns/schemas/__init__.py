"""HTTP request and response shapes of the campaigns API."""

from __future__ import annotations

from pydantic import BaseModel


class AudienceClient(BaseModel):
    """What campaigns knows of a client, from contacts' events."""

    id: str
    name: str
    kind: str
    status: str
    field_of_activity: str | None
    region: str | None
    size: str | None
    tags: list[str]
    version: int
