"""The contacts service's settings (``CRM_CONTACTS_<FIELD>``, then ``CRM_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from pydantic import Field


class ContactsSettings(ServiceSettings):
    service_name: ClassVar[str] = "contacts"
    http_port: int = 8001

    prospect_retention_days: int | None = Field(default=730, ge=0)
    """Days a prospect (a client still ``potential``: it never became active, partner or
    dealer) is kept after the last thing that happened to it (registration, a change, a fact
    on its timeline: a contact record, an invitation, a proposal...). Then the retention job
    deletes it with its people, contact records and the clients merged into it, and publishes
    ``ClientExpired`` so every other service deletes its copies. 0 or empty: kept for ever.
    docs/retention.md lists every rule."""
    retention_interval_s: float = Field(default=3600.0, gt=0)
    """How often the retention job looks for prospects due (every replica runs it; a
    prospect is deleted once whichever replica comes first)."""
    retention_batch_size: int = Field(default=200, ge=1)
    """Candidates read per query of the retention job."""


def settings_of(runtime: Runtime) -> ContactsSettings:
    settings = runtime.settings
    assert isinstance(settings, ContactsSettings)
    return settings
