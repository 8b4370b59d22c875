"""deploy/compose/compose.yaml, checked for structure (`docker compose config` cannot run here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from crm_contracts.topics import PARTITIONS, SERVICE_TOPICS
from crm_kit.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "deploy" / "compose" / "compose.yaml"
SERVICES = {"contacts": 8001, "campaigns": 8002, "proposals": 8003, "notify": 8004}
INFRA = ("kafka", "kafka-init", "mongo", "jwt-keys", "mailpit")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())  # resolves the x-* anchors and << merges
    assert isinstance(doc, dict)
    return doc


def healthcheck_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_compose_holds_the_broker_the_store_the_mail_catcher_and_the_four_services(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == set(SERVICES) | set(INFRA)


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
    for topic in SERVICE_TOPICS:
        assert topic in script
    assert f"--partitions {PARTITIONS}" in script


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
    for dependency in depends:
        if depends[dependency]["condition"] == "service_healthy":
            assert "healthcheck" in compose["services"][dependency], dependency


@pytest.mark.parametrize("name", SERVICES)
def test_each_services_environment_is_accepted_by_the_settings(
    compose: dict[str, Any], name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose["services"][name]["environment"]
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))

    class Settings(ServiceSettings):
        service_name = name

    settings = Settings()
    assert settings.http_port == SERVICES[name]
    assert settings.http_host == "0.0.0.0"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert "replicaSet=rs0" in settings.mongo_uri
    assert str(settings.jwt_public_key_file).startswith("/keys/")


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
