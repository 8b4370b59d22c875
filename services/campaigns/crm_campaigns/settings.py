"""The campaigns service's settings (``CRM_CAMPAIGNS_<FIELD>``, then ``CRM_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from crm_kit.retention import WholeDays
from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from pydantic import Field

from crm_campaigns.domain.tasks import DEFAULT_KINDS


class CampaignsSettings(ServiceSettings):
    service_name: ClassVar[str] = "campaigns"
    http_port: int = 8002
    event_kinds: tuple[str, ...] = DEFAULT_KINDS
    link_secret: str = "dev-only-campaigns-link-secret"  # noqa: S105 - a development default
    """Signs the public answer and questionnaire links."""
    invitation_link_ttl_days: int = 90
    public_base_url: str | None = None
    """Where /i/ and /q/ are reachable from outside, e.g. https://events.example.com."""
    public_form_window_s: int = 60
    """The sliding window the public forms' (POST /i/, POST /q/) limits count in."""
    public_form_posts_per_link: int = 10
    """Posts one signed link may make in a window (a person answers once or twice)."""
    public_form_posts_per_address: int = 60
    """Posts one client address may make in a window, whatever the links (a venue's shared
    network fills in several forms; a script guessing links is stopped)."""
    anonymous_responses_per_seat: int = 2
    """An event's anonymous questionnaire link takes this many answers per seat of its
    capacity (walk-ins and colleagues of the invited answer too)…"""
    anonymous_responses_max: int = 1000
    """…and never more than this (the bound of an event without a capacity)."""

    # Retention (docs/retention.md).
    participant_retention_days: WholeDays = Field(default=730, ge=0)
    """Days after an event ended that its participants (who, their name, their path from
    invited to attended) are kept; then the retention job removes them. The event, its
    effectiveness and the market-needs report keep their numbers. 0 or empty: kept for ever."""
    retention_interval_s: float = Field(default=3600.0, gt=0)
    """How often the retention job looks for events due (every replica runs it)."""
    retention_batch_size: int = Field(default=100, ge=1)
    """Events read per query of the retention job."""

    def secrets(self) -> dict[str, str]:
        return {"link_secret": self.link_secret}


def settings_of(runtime: Runtime) -> CampaignsSettings:
    settings = runtime.settings
    assert isinstance(settings, CampaignsSettings)
    return settings
