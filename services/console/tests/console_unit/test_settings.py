"""Production refuses a console that would sign people in or keep their cookie over plain
http (``InsecureProductionSettings``, raised as the settings' validation error)."""

from __future__ import annotations

import pytest
from crm_console.settings import ConsoleSettings


def test_production_needs_an_https_provider() -> None:
    with pytest.raises(ValueError, match="https provider"):
        ConsoleSettings(
            environment="production",
            oidc_issuer="http://id.example.com/realms/crm",
            public_url="https://crm.example.com",
        )


def test_production_serves_the_console_over_https() -> None:
    with pytest.raises(ValueError, match="over https"):
        ConsoleSettings(
            environment="production",
            oidc_issuer="https://id.example.com/realms/crm",
            public_url="http://crm.example.com",
        )


def test_an_https_console_sets_secure_cookies_and_its_callback() -> None:
    settings = ConsoleSettings(
        environment="production",
        oidc_issuer="https://id.example.com/realms/crm",
        public_url="https://crm.example.com/",
    )
    assert settings.secure_cookies
    assert settings.redirect_uri == "https://crm.example.com/auth/callback"
    assert settings.origin == "https://crm.example.com"
