"""The campaigns service's settings (``CRM_CAMPAIGNS_<FIELD>``, then ``CRM_<FIELD>``)."""

from __future__ import annotations

from typing import ClassVar

from crm_kit.runtime import Runtime
from crm_kit.settings import ServiceSettings
from pydantic import model_validator

from crm_campaigns.domain.tasks import DEFAULT_KINDS


class CampaignsSettings(ServiceSettings):
    service_name: ClassVar[str] = "campaigns"
    http_port: int = 8002
    event_kinds: tuple[str, ...] = DEFAULT_KINDS
    relay_batch_size: int = 50
    """FerretDB v1 slows down sharply on multi-statement updates (the relay's bulk removal of
    published events): a 500-statement bulk can stall the server. Small batches keep it fast."""
    store_max_pool_size: int | None = None
    """Caps the store connections of this process when set. Not needed for correctness: the
    local FerretDB runs write commands one at a time (deploy/local/ferretdb/serialize.go) and
    MongoDB keeps single-document updates atomic itself."""
    link_secret: str = "dev-only-campaigns-link-secret"  # noqa: S105 - a development default
    """Signs the public answer and questionnaire links."""
    invitation_link_ttl_days: int = 90
    public_base_url: str | None = None
    """Where /i/ and /q/ are reachable from outside, e.g. https://events.example.com."""

    @model_validator(mode="after")
    def _single_connection_store(self) -> CampaignsSettings:
        if self.store_max_pool_size and "maxpoolsize" not in self.mongo_uri.lower():
            joiner = (
                "&" if "?" in self.mongo_uri else ("?" if self.mongo_uri.count("/") > 2 else "/?")
            )
            uri = f"{self.mongo_uri}{joiner}maxPoolSize={self.store_max_pool_size}"
            object.__setattr__(self, "mongo_uri", uri)
        return self

    def secrets(self) -> dict[str, str]:
        return {"link_secret": self.link_secret}


def settings_of(runtime: Runtime) -> CampaignsSettings:
    settings = runtime.settings
    assert isinstance(settings, CampaignsSettings)
    return settings
