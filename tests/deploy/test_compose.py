"""deploy/compose/compose.yaml, checked for structure (`docker compose config` cannot run here)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from crm_contracts.topics import PARTITIONS, TOPICS
from crm_kit.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
SERVICES = {"contacts": 8001, "campaigns": 8002, "proposals": 8003, "notify": 8004}
INFRA = ("kafka", "kafka-users", "kafka-init", "mongo", "jwt-keys", "mailpit", "keycloak")
CONSOLE = "console"
"""The staff console: built here like the services, but with no broker and no Kafka user."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())  # resolves the x-* anchors and << merges
    assert isinstance(doc, dict)
    return doc


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_holds_the_broker_the_store_the_mail_catcher_the_provider_and_the_services(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == set(SERVICES) | set(INFRA) | {CONSOLE}


def test_the_console_is_built_here_and_reaches_the_services_by_name(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_console.settings import ConsoleSettings

    console = compose["services"][CONSOLE]
    assert console["build"]["args"] == {"SERVICE": CONSOLE, "PORT": "8000"}
    assert "http://127.0.0.1:8000/healthz" in healthcheck_command(console)
    assert console["depends_on"]["mongo"]["condition"] == "service_healthy"
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    for key, value in console["environment"].items():
        monkeypatch.setenv(key, str(value))
    settings = ConsoleSettings()
    assert settings.http_port == 8000
    assert settings.api_urls() == {name: f"http://{name}:{port}" for name, port in SERVICES.items()}
    assert not any(k.startswith("CRM_KAFKA") for k in console["environment"])
    # People sign in at the provider's public address; the console reaches it inside.
    shared = compose["x-crm-env"]
    assert settings.oidc_issuer == shared["CRM_OIDC_ISSUER"]
    assert settings.oidc_discovery_url == shared["CRM_OIDC_DISCOVERY_URL"]
    assert console["depends_on"]["keycloak"]["condition"] == "service_healthy"


def test_kafka_runs_in_kraft_mode_and_its_init_job_creates_the_topics(
    compose: dict[str, Any],
) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER" not in " ".join(env)
    assert "kafka-broker-api-versions" in healthcheck_command(kafka)
    init = compose["services"]["kafka-init"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    script = " ".join(init["command"])
    for topic in TOPICS:
        assert topic in script
    assert f"--partitions {PARTITIONS}" in script


def test_kafka_authenticates_every_client_and_authorises_by_acl(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    env = kafka["environment"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}
    assert env["KAFKA_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_LISTENER_NAME_HOST_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:crm-stack-admin"
    # no password in the file: the broker reads the admin's from the users volume
    assert not any("password=" in str(v) for v in env.values())
    assert "--command-config" in healthcheck_command(kafka)
    assert {
        "source": kafka["volumes"][1]["source"],
        "subpath": kafka["volumes"][1]["volume"]["subpath"],
    } == {"source": "kafka-users", "subpath": "crm-stack-admin"}


def test_every_user_gets_a_password_and_its_acls_from_the_services_specs(
    compose: dict[str, Any],
) -> None:
    from crm_stack import manifests, security

    made = " ".join(compose["services"]["kafka-users"]["command"])
    for user in security.principals():
        assert user in made
    assert "dev-only-" in made
    init = " ".join(compose["services"]["kafka-init"]["command"])
    assert "SCRAM-SHA-512=[iterations=8192" in init
    assert "kafka-acls.sh" in init
    assert (
        "./kafka-acls.txt:/acls/kafka-acls.txt:ro" in compose["services"]["kafka-init"]["volumes"]
    )
    committed = (COMPOSE.parent / "kafka-acls.txt").read_text()
    assert committed == manifests.compose_acls(), "run `uv run crm-stack acls --write`"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_logs_in_as_its_own_user_and_sees_only_its_password(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    env = service["environment"]
    assert env[f"CRM_{name.upper()}_KAFKA_USERNAME"] == f"crm-{name}"
    mounts = [v for v in service["volumes"] if isinstance(v, dict)]
    assert [(m["source"], m["volume"]["subpath"], m["read_only"]) for m in mounts] == [
        ("kafka-users", f"crm-{name}", True)
    ]
    assert env["CRM_KAFKA_PASSWORD_FILE"] == f"{mounts[0]['target']}/password"
    assert service["depends_on"]["kafka-users"]["condition"] == "service_completed_successfully"


def test_mongo_is_a_replica_set_that_initiates_itself(compose: dict[str, Any]) -> None:
    mongo = compose["services"]["mongo"]
    assert mongo["image"].startswith("mongo:7")
    assert "--replSet" in mongo["command"]
    check = healthcheck_command(mongo)
    assert "rs.initiate" in check
    assert "isWritablePrimary" in check


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_built_here_and_checked_on_healthz(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    assert (REPO / service["build"]["dockerfile"]) == REPO / "deploy" / "Dockerfile"
    assert service["build"]["args"] == {"SERVICE": name, "PORT": str(SERVICES[name])}
    assert (COMPOSE.parent / service["build"]["context"]).resolve() == REPO
    assert f"http://127.0.0.1:{SERVICES[name]}/healthz" in healthcheck_command(service)
    assert f"{SERVICES[name]}:{SERVICES[name]}" in service["ports"]


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_waits_for_a_healthy_broker_and_store(
    compose: dict[str, Any], name: str
) -> None:
    depends = compose["services"][name]["depends_on"]
    assert depends["kafka"]["condition"] == "service_healthy"
    assert depends["mongo"]["condition"] == "service_healthy"
    assert depends["kafka-init"]["condition"] == "service_completed_successfully"
    assert depends["jwt-keys"]["condition"] == "service_completed_successfully"
    assert depends["keycloak"]["condition"] == "service_healthy"
    for dependency in depends:
        if depends[dependency]["condition"] == "service_healthy":
            assert "healthcheck" in compose["services"][dependency], dependency


@pytest.mark.parametrize("name", SERVICES)
def test_each_services_environment_is_accepted_by_the_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = compose["services"][name]["environment"]
    # Only what the file sets: the shell's stack variables (`crm-stack env`) must not leak in.
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    # the password file the container mounts, here a local stand-in
    (tmp_path / "password").write_text("dev-only-from-the-volume\n")
    monkeypatch.setenv("CRM_KAFKA_PASSWORD_FILE", str(tmp_path / "password"))

    class Settings(ServiceSettings):
        service_name = name

    settings = Settings()
    assert settings.http_port == SERVICES[name]
    assert settings.http_host == "0.0.0.0"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert "replicaSet=rs0" in settings.mongo_uri
    assert str(settings.jwt_public_key_file).startswith("/keys/")
    assert settings.kafka_security_protocol == "SASL_PLAINTEXT"
    assert settings.kafka_username == f"crm-{name}"
    assert settings.kafka_password.get_secret_value() == "dev-only-from-the-volume"
    assert settings.oidc_issuer == "http://localhost:8180/realms/crm"
    assert settings.oidc_discovery_url == "http://keycloak:8080/realms/crm"


def test_notify_sends_mail_to_the_catcher(compose: dict[str, Any]) -> None:
    notify = compose["services"]["notify"]
    assert notify["environment"]["CRM_NOTIFY_SMTP_HOST"] == "mailpit"
    assert notify["depends_on"]["mailpit"]["condition"] == "service_healthy"
    assert "healthcheck" in compose["services"]["mailpit"]


def test_the_services_mount_the_development_keys_read_only(compose: dict[str, Any]) -> None:
    keys = compose["services"]["jwt-keys"]
    assert "crm-token keygen /keys" in " ".join(keys["command"])
    # The contacts image under the same tag: built the same way, or one build would replace it.
    assert (keys["image"], keys["build"]) == (
        compose["services"]["contacts"]["image"],
        compose["services"]["contacts"]["build"],
    )
    for name in SERVICES:
        assert "jwt-keys:/keys:ro" in compose["services"][name]["volumes"]
        assert compose["services"][name]["read_only"] is True


def test_keycloak_is_the_local_stacks_version_and_imports_the_repositorys_realm(
    compose: dict[str, Any],
) -> None:
    from crm_stack import keycloak
    from crm_stack.config import KEYCLOAK_REALM_FILE

    provider = compose["services"]["keycloak"]
    image, tag = provider["image"].rsplit(":", 1)
    assert (image, tag) == ("quay.io/keycloak/keycloak", keycloak.VERSION)
    assert provider["command"][0] in ("start-dev", "start")
    assert "--import-realm" in provider["command"]
    [mount] = provider["volumes"]
    source, target, mode = mount.split(":")
    assert (COMPOSE.parent / source).resolve() == KEYCLOAK_REALM_FILE
    assert target.startswith("/opt/keycloak/data/import/")
    assert mode == "ro"
    assert "/health/ready" in healthcheck_command(provider)
    assert provider["environment"]["KC_HEALTH_ENABLED"] == "true"


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_trusts_the_public_issuer_and_reads_its_keys_inside_the_network(
    compose: dict[str, Any], name: str
) -> None:
    """The issuer is the address the browser (on the host) sees, through the published port;
    the discovery URL is the provider's name and port on the compose network."""
    from crm_kit.oidc import ProviderKeys
    from crm_stack.keycloak import REALM

    provider = compose["services"]["keycloak"]
    env = compose["services"][name]["environment"]
    issuer, inside = env["CRM_OIDC_ISSUER"], env["CRM_OIDC_DISCOVERY_URL"]
    public = provider["environment"]["KC_HOSTNAME"]
    port = provider["environment"]["KC_HTTP_PORT"]
    assert issuer == f"{public}/realms/{REALM}"
    assert f"{public.rsplit(':', 1)[1]}:{port}" in provider["ports"]
    assert inside == f"http://keycloak:{port}/realms/{REALM}"
    keys = ProviderKeys(issuer, discovery_url=inside)
    assert keys.discovery_url == f"{inside}/.well-known/openid-configuration"
    assert keys.inside_address(f"{issuer}/protocol/openid-connect/certs") == (
        f"{inside}/protocol/openid-connect/certs"
    )
