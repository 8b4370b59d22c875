"""Settings from the environment, the production guard, and the integration fixtures' rules."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest
from crm_kit.settings import DEV_KEY_MARKER, ServiceSettings
from crm_kit.testing import endpoints_from_env, unavailable_message
from pydantic import ValidationError


class SampleSettings(ServiceSettings):
    service_name: ClassVar[str] = "sample"
    http_port: int = 8009


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests set what they read; the shell's stack variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith("CRM_"):
            monkeypatch.delenv(name)


def _key(folder: Path, *, development: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    key = folder / "jwt-public.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n")
    if development:
        (folder / DEV_KEY_MARKER).touch()
    return key


def test_a_service_variable_overrides_the_shared_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "shared:9092")
    monkeypatch.setenv("CRM_MONGO_URI", "mongodb://shared")
    monkeypatch.setenv("CRM_SAMPLE_MONGO_URI", "mongodb://own")
    settings = SampleSettings()
    assert settings.kafka_bootstrap == "shared:9092"
    assert settings.mongo_uri == "mongodb://own"
    assert settings.mongo_database == "crm_sample"
    assert settings.consumer_group == "crm-sample"
    assert settings.http_port == 8009


def test_production_refuses_the_development_key(tmp_path: Path) -> None:
    key = _key(tmp_path / "dev", development=True)
    with pytest.raises(ValidationError, match="refuses the development key"):
        SampleSettings(environment="production", oidc_issuer=None, jwt_public_key_file=key)


def test_production_needs_a_key_at_all() -> None:
    with pytest.raises(ValidationError, match="needs oidc_issuer or jwt_public_key_file"):
        SampleSettings(environment="production", oidc_issuer=None)


def test_production_reads_the_providers_keys_over_https_only() -> None:
    with pytest.raises(ValidationError, match="over https only"):
        SampleSettings(environment="production", oidc_issuer="http://id.example.com/realms/crm")


def test_production_refuses_a_development_secret(tmp_path: Path) -> None:
    class WithSecret(SampleSettings):
        link_secret: str = "dev-only-change-me"

        def secrets(self) -> dict[str, str]:
            return {"link_secret": self.link_secret}

    key = _key(tmp_path / "prod", development=False)
    with pytest.raises(ValidationError, match="link_secret"):
        WithSecret(environment="production", oidc_issuer=None, jwt_public_key_file=key)
    accepted = WithSecret(
        environment="production",
        oidc_issuer=None,
        jwt_public_key_file=key,
        link_secret="a-real-secret",
        cursor_secret="a-real-cursor-secret",
    )
    assert accepted.environment == "production"


def test_production_refuses_the_development_cursor_secret(tmp_path: Path) -> None:
    key = _key(tmp_path / "prod", development=False)
    with pytest.raises(ValidationError, match="cursor_secret"):
        SampleSettings(environment="production", jwt_public_key_file=key)
    accepted = SampleSettings(
        environment="production", jwt_public_key_file=key, cursor_secret="a-real-cursor-secret"
    )
    assert accepted.cursor_secret == "a-real-cursor-secret"


def test_development_accepts_the_development_key(tmp_path: Path) -> None:
    key = _key(tmp_path / "dev", development=True)
    assert SampleSettings(jwt_public_key_file=key).jwt_public_key_file == key


def test_integration_endpoints_come_only_from_both_variables() -> None:
    assert endpoints_from_env({}) is None
    assert endpoints_from_env({"CRM_KAFKA_BOOTSTRAP": "k:9092"}) is None
    both = endpoints_from_env({"CRM_KAFKA_BOOTSTRAP": "k:9092", "CRM_MONGO_URI": "mongodb://m"})
    assert both is not None
    assert (both.kafka_bootstrap, both.mongo_uri) == ("k:9092", "mongodb://m")


def test_the_failure_without_a_stack_says_how_to_provide_one() -> None:
    message = unavailable_message()
    assert "CRM_KAFKA_BOOTSTRAP" in message
    assert "make test" in message
