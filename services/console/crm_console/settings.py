"""The console's settings (``CRM_CONSOLE_<FIELD>``, then ``CRM_<FIELD>``).

The console keeps no data of the CRM: only its people's sessions (and their language), in its
own database. Everything it shows it reads from the four services' APIs with the signed-in
person's token.
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from crm_kit.settings import InsecureProductionSettings, ServiceSettings
from pydantic import Field


class ConsoleSettings(ServiceSettings):
    service_name: ClassVar[str] = "console"
    http_port: int = 8000

    public_url: str = "http://127.0.0.1:8000"
    """Where people's browsers reach the console: the provider sends them back to
    ``<public_url>/auth/callback``, and an ``https`` address makes the cookie ``Secure``."""
    oidc_client_id: str = "crm-console"
    """The provider's public client the console signs people in with (code flow, PKCE S256)."""
    oidc_scope: str = "openid contacts:admin"
    """``contacts:admin`` (an optional scope of the realm's ``crm-console`` client) lets the
    console ask contacts to merge duplicates; the person's role still decides (docs/decisions/
    0077-console-editing-and-analysis.md)."""
    contacts_url: str = "http://127.0.0.1:8001"
    campaigns_url: str = "http://127.0.0.1:8002"
    proposals_url: str = "http://127.0.0.1:8003"
    notify_url: str = "http://127.0.0.1:8004"
    campaigns_public_url: str | None = None
    """Where calendar programs reach campaigns' public feeds, when campaigns does not say
    itself (its ``public_base_url``); ``campaigns_url`` otherwise."""
    api_timeout_s: float = Field(default=10.0, gt=0)
    session_ttl_s: int = Field(default=12 * 3600, ge=60)
    """A session ends this long after sign-in, however active (the provider's own session
    and refresh token may end it sooner)."""
    session_idle_s: int = Field(default=2 * 3600, ge=60)
    """…and this long after the last request."""
    signin_ttl_s: int = Field(default=600, ge=30)
    """How long a started sign-in (its PKCE verifier and state) waits for the provider."""
    default_language: str = "ru"

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.public_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def redirect_uri(self) -> str:
        return f"{self.public_url.rstrip('/')}/auth/callback"

    def api_urls(self) -> dict[str, str]:
        return {
            "contacts": self.contacts_url.rstrip("/"),
            "campaigns": self.campaigns_url.rstrip("/"),
            "proposals": self.proposals_url.rstrip("/"),
            "notify": self.notify_url.rstrip("/"),
        }

    def _refuse_development_material(self) -> None:
        # The console talks to no broker and checks no bearer token: what production must
        # have is a provider over https and a console served over https (Secure cookies).
        if not self.oidc_issuer or not self.oidc_issuer.startswith("https://"):
            raise InsecureProductionSettings(
                f"production signs people in at an https provider, not {self.oidc_issuer!r}"
            )
        if not self.secure_cookies:
            raise InsecureProductionSettings(
                f"production serves the console over https, not {self.public_url}"
            )
