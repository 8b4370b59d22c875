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


PRODUCTION_KAFKA = {
    "kafka_security_protocol": "SASL_SSL",
    "kafka_username": "crm-sample",
    "kafka_password": "a-real-password",
}
"""A broker connection production accepts."""


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
        key_vault_master_key="a-real-master-key",
        **PRODUCTION_KAFKA,
    )
    assert accepted.environment == "production"


@pytest.mark.parametrize(
    ("kafka", "refusal"),
    [
        ({}, "authenticated broker connection"),
        ({**PRODUCTION_KAFKA, "kafka_security_protocol": "PLAINTEXT"}, "is PLAINTEXT"),
        ({**PRODUCTION_KAFKA, "kafka_security_protocol": "SSL"}, "is SSL"),
        ({**PRODUCTION_KAFKA, "kafka_password": ""}, "needs kafka_username and kafka_password"),
        ({**PRODUCTION_KAFKA, "kafka_username": ""}, "needs kafka_username and kafka_password"),
        ({**PRODUCTION_KAFKA, "kafka_password": "dev-only-x"}, "value of kafka_password"),
    ],
)
def test_production_refuses_a_broker_without_real_credentials(
    tmp_path: Path, kafka: dict[str, str], refusal: str
) -> None:
    key = _key(tmp_path / "prod", development=False)
    with pytest.raises(ValidationError, match=refusal):
        SampleSettings(
            environment="production",
            oidc_issuer=None,
            jwt_public_key_file=key,
            cursor_secret="a-real-cursor-secret",
            key_vault_master_key="a-real-master-key",
            **kafka,
        )
    accepted = SampleSettings(
        environment="production",
        oidc_issuer=None,
        jwt_public_key_file=key,
        cursor_secret="a-real-cursor-secret",
        key_vault_master_key="a-real-master-key",
        **PRODUCTION_KAFKA,
    )
    assert accepted.kafka_password.get_secret_value() == "a-real-password"
    assert "a-real-password" not in repr(accepted)


def test_kafka_credentials_come_from_the_services_own_variables_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_KAFKA_USERNAME", "crm-stack-admin")
    monkeypatch.setenv("CRM_KAFKA_PASSWORD", "admin-password")
    monkeypatch.setenv("CRM_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CRM_SAMPLE_KAFKA_USERNAME", "crm-sample")
    monkeypatch.setenv("CRM_SAMPLE_KAFKA_PASSWORD", "own-password")
    settings = SampleSettings()
    assert (settings.kafka_username, settings.kafka_password.get_secret_value()) == (
        "crm-sample",
        "own-password",
    )
    assert settings.kafka_security_protocol == "SASL_PLAINTEXT"


def test_production_refuses_the_development_cursor_secret(tmp_path: Path) -> None:
    key = _key(tmp_path / "prod", development=False)
    with pytest.raises(ValidationError, match="cursor_secret"):
        SampleSettings(
            environment="production", oidc_issuer=None, jwt_public_key_file=key, **PRODUCTION_KAFKA
        )
    accepted = SampleSettings(
        environment="production",
        oidc_issuer=None,
        jwt_public_key_file=key,
        cursor_secret="a-real-cursor-secret",
        key_vault_master_key="a-real-master-key",
        **PRODUCTION_KAFKA,
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


def test_the_kafka_password_may_come_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-the-secret\n")
    settings = SampleSettings(kafka_password_file=secret, kafka_username="crm-sample")
    assert settings.kafka_password.get_secret_value() == "from-the-secret"
    given = SampleSettings(kafka_password_file=secret, kafka_password="given")
    assert given.kafka_password.get_secret_value() == "given"
