"""The campaigns service's settings (``CRM_CAMPAIGNS_<FIELD>``, then ``CRM_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings

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

    def secrets(self) -> dict[str, str]:
        return {"link_secret": self.link_secret}


def settings_of(runtime: Runtime) -> CampaignsSettings:
    settings = runtime.settings
    assert isinstance(settings, CampaignsSettings)
    return settings
