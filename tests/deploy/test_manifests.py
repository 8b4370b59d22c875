"""The Kubernetes manifests: each overlay renders, every object fits its schema, and the
operational rules hold (probes, resources, non-root, one HPA and PDB per service, topics)."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml
from crm_contracts.topics import BACKOFFICE, PARTITIONS, SERVICE_TOPICS, TOPICS, dead_letter_topic
from crm_kit.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
SERVICES = {"contacts": 8001, "campaigns": 8002, "proposals": 8003, "notify": 8004}
CONSOLE = "console"
DEPLOYMENTS = {**SERVICES, CONSOLE: 8000}
"""Every Deployment and its port: the four services and the staff console (which holds no
secret, no Kafka user and no metrics of the services' kind)."""
KUBERNETES_VERSIONS = ("1.30", "1.37")
"""The oldest Kubernetes the manifests target and the newest schema kubernetes-validate bundles."""

CONSUMES = {
    "crm-contacts": TOPICS,
    "crm-campaigns": ("crm.contacts.v1", "crm.proposals.v1", "crm.notify.v1"),
    "crm-proposals": ("crm.contacts.v1", BACKOFFICE),
    "crm-notify": ("crm.contacts.v1", "crm.campaigns.v1", "crm.proposals.v1"),
}
"""Which topics each consumer group reads: one dead-letter topic per pair."""

STRIMZI_SECRETS = {"crm-kafka-cluster-ca-cert"} | {f"crm-{name}" for name in SERVICES}
"""Secrets Strimzi's operators make: the cluster CA, and a Secret per KafkaUser (its password)."""

KEYCLOAK_SECRETS = {"crm-keycloak-db", "crm-keycloak-tls", "crm-keycloak-clients"}
"""The production provider's database login, TLS certificate and confidential clients' secrets."""

OUT_OF_BAND = {
    "dev": {"crm-jwt-public-key"} | STRIMZI_SECRETS,
    "prod": {"crm-jwt-public-key"}
    | {f"{name}-secrets" for name in SERVICES}  # each holds at least the cursor secret
    | STRIMZI_SECRETS
    | KEYCLOAK_SECRETS,
}
"""Secrets an operator (or Strimzi) creates before applying the overlay (docs/deploy.md)."""

_CONFIG_VALUE = {"type": ["string", "integer", "number", "boolean"]}
KAFKA_TOPIC_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaTopic"},
        "metadata": {
            "type": "object",
            "required": ["name", "labels"],
            "properties": {
                "name": {
                    "type": "string",
                    "maxLength": 253,
                    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
                },
                "namespace": {"type": "string"},
                "labels": {
                    "type": "object",
                    "required": ["strimzi.io/cluster"],
                    "additionalProperties": {"type": "string"},
                },
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["partitions", "replicas"],
            "additionalProperties": False,
            "properties": {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object", "additionalProperties": _CONFIG_VALUE},
            },
        },
    },
}
"""The fields of Strimzi's KafkaTopic (v1beta2) that these manifests use; not in the
Kubernetes schemas, so checked against this."""

_ACL = {
    "type": "object",
    "required": ["resource", "operations"],
    "additionalProperties": False,
    "properties": {
        "resource": {
            "type": "object",
            "required": ["type", "name", "patternType"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                "name": {"type": "string", "minLength": 1},
                "patternType": {"enum": ["literal", "prefix"]},
            },
        },
        "operations": {
            "type": "array",
            "minItems": 1,
            "items": {
                "enum": [
                    "Read",
                    "Write",
                    "Create",
                    "Delete",
                    "Alter",
                    "Describe",
                    "ClusterAction",
                    "AlterConfigs",
                    "DescribeConfigs",
                    "IdempotentWrite",
                    "All",
                ]
            },
        },
        "host": {"type": "string"},
    },
}
KAFKA_USER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "kind": {"const": "KafkaUser"},
        "metadata": KAFKA_TOPIC_SCHEMA["properties"]["metadata"],
        "spec": {
            "type": "object",
            "required": ["authentication", "authorization"],
            "additionalProperties": False,
            "properties": {
                "authentication": {
                    "type": "object",
                    "required": ["type"],
                    "additionalProperties": False,
                    "properties": {"type": {"enum": ["scram-sha-512", "tls", "tls-external"]}},
                },
                "authorization": {
                    "type": "object",
                    "required": ["type", "acls"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"const": "simple"},
                        "acls": {"type": "array", "minItems": 1, "items": _ACL},
                    },
                },
            },
        },
    },
}
"""The fields of Strimzi's KafkaUser (v1beta2) that these manifests use."""

_SECRET_KEY = {
    "type": "object",
    "required": ["name", "key"],
    "additionalProperties": False,
    "properties": {"name": {"type": "string", "minLength": 1}, "key": {"type": "string"}},
}
_RESOURCES = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        part: {
            "type": "object",
            "additionalProperties": False,
            "properties": {"cpu": {"type": "string"}, "memory": {"type": "string"}},
        }
        for part in ("requests", "limits")
    },
}
_CR_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
KEYCLOAK_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "k8s.keycloak.org/v2alpha1"},
        "kind": {"const": "Keycloak"},
        "metadata": _CR_METADATA,
        "spec": {
            "type": "object",
            "required": ["hostname", "http", "db"],
            "additionalProperties": False,
            "properties": {
                "instances": {"type": "integer", "minimum": 1},
                "image": {"type": "string"},
                "hostname": {
                    "type": "object",
                    "required": ["hostname"],
                    "additionalProperties": False,
                    "properties": {
                        "hostname": {"type": "string", "pattern": "^https?://[^/]+$"},
                        "admin": {"type": "string"},
                        "strict": {"type": "boolean"},
                        "backchannelDynamic": {"type": "boolean"},
                    },
                },
                "http": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "tlsSecret": {"type": "string"},
                        "httpEnabled": {"type": "boolean"},
                        "httpPort": {"type": "integer"},
                        "httpsPort": {"type": "integer"},
                    },
                },
                "proxy": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"headers": {"enum": ["forwarded", "xforwarded"]}},
                },
                "ingress": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "className": {"type": "string"},
                        "tlsSecret": {"type": "string"},
                        "annotations": {"type": "object"},
                    },
                },
                "db": {
                    "type": "object",
                    "required": ["vendor"],
                    "additionalProperties": False,
                    "properties": {
                        "vendor": {"enum": ["dev-file", "postgres", "mysql", "mariadb", "mssql"]},
                        "host": {"type": "string"},
                        "port": {"type": "integer"},
                        "database": {"type": "string"},
                        "url": {"type": "string"},
                        "usernameSecret": _SECRET_KEY,
                        "passwordSecret": _SECRET_KEY,
                    },
                },
                "resources": _RESOURCES,
            },
        },
    },
}
"""The fields of the Keycloak operator's Keycloak (v2alpha1) that these manifests use (the
operator's KeycloakSpec: hostname v2, http, proxy, ingress, db)."""

KEYCLOAK_REALM_IMPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "k8s.keycloak.org/v2alpha1"},
        "kind": {"const": "KeycloakRealmImport"},
        "metadata": _CR_METADATA,
        "spec": {
            "type": "object",
            "required": ["keycloakCRName", "realm"],
            "additionalProperties": False,
            "properties": {
                "keycloakCRName": {"type": "string", "minLength": 1},
                "realm": {
                    "type": "object",
                    "required": ["realm", "enabled"],
                    "properties": {"realm": {"type": "string"}, "enabled": {"type": "boolean"}},
                },
                "placeholders": {
                    "type": "object",
                    "propertyNames": {"pattern": "^[A-Z_][A-Z0-9_]*$"},
                    "additionalProperties": {
                        "type": "object",
                        "required": ["secret"],
                        "additionalProperties": False,
                        "properties": {"secret": _SECRET_KEY},
                    },
                },
            },
        },
    },
}
"""The fields of the Keycloak operator's KeycloakRealmImport (v2alpha1); ``realm`` is Keycloak's
RealmRepresentation, checked against the local stack's Keycloak by its own tests."""

CUSTOM_SCHEMAS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): KAFKA_TOPIC_SCHEMA,
    ("kafka.strimzi.io/v1beta2", "KafkaUser"): KAFKA_USER_SCHEMA,
    ("k8s.keycloak.org/v2alpha1", "Keycloak"): KEYCLOAK_SCHEMA,
    ("k8s.keycloak.org/v2alpha1", "KeycloakRealmImport"): KEYCLOAK_REALM_IMPORT_SCHEMA,
}

Obj = dict[str, Any]


# --- checks: each returns the problems it finds, so a broken manifest can be shown to fail ---


def of_kind(objects: list[Obj], kind: str) -> Iterator[Obj]:
    return (o for o in objects if o["kind"] == kind)


def schema_problems(objects: list[Obj]) -> list[str]:
    problems = []
    for obj in objects:
        where = f"{obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
        custom = CUSTOM_SCHEMAS.get((obj.get("apiVersion"), obj.get("kind")))
        if custom is not None:
            validator = jsonschema.Draft202012Validator(custom)
            problems += [
                f"{where}: {e.message} at {list(e.path)}" for e in validator.iter_errors(obj)
            ]
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.SchemaNotFoundError:
                problems.append(f"{where}: no Kubernetes {version} schema for {obj['apiVersion']}")
            except kubernetes_validate.ValidationError as e:
                problems.append(f"{where} (k8s {version}): {e.message} at {list(e.path)}")
    return problems


def container(deployment: Obj) -> Obj:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def probe_problems(objects: list[Obj]) -> list[str]:
    problems = []
    for dep in of_kind(objects, "Deployment"):
        name, c = dep["metadata"]["name"], container(dep)
        port_names = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = c.get(probe, {}).get("httpGet")
            if get is None:
                problems.append(f"{name}: no {probe} with httpGet")
                continue
            if get.get("path") != path:
                problems.append(f"{name}: {probe} path {get.get('path')!r}, expected {path}")
            port = port_names.get(get["port"], get["port"])
            if port != DEPLOYMENTS.get(name):
                problems.append(f"{name}: {probe} port {port}, expected {DEPLOYMENTS.get(name)}")
    return problems


def runtime_problems(objects: list[Obj]) -> list[str]:
    """Resource requests and limits, non-root, read-only root fs, no privilege escalation."""
    problems = []
    for dep in of_kind(objects, "Deployment"):
        name, pod, c = dep["metadata"]["name"], dep["spec"]["template"]["spec"], container(dep)
        resources = c.get("resources", {})
        for part in ("requests", "limits"):
            for res in ("cpu", "memory"):
                if res not in resources.get(part, {}):
                    problems.append(f"{name}: no {part}.{res}")
        sc, pod_sc = c.get("securityContext", {}), pod.get("securityContext", {})
        if not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            problems.append(f"{name}: runAsNonRoot is not set")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) in (None, 0):
            problems.append(f"{name}: no non-zero runAsUser")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: root filesystem is writable")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: privilege escalation is allowed")
        if "ALL" not in sc.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}: capabilities are not all dropped")
        mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
        if "/tmp" not in mounts:  # noqa: S108 - checks the pod's own scratch mount
            problems.append(f"{name}: no writable /tmp on the read-only root filesystem")
    return problems


def env_source_problems(objects: list[Obj], overlay: str) -> list[str]:
    """Env comes from a ConfigMap and a Secret, and every reference resolves."""
    problems = []
    config_maps = {o["metadata"]["name"] for o in of_kind(objects, "ConfigMap")}
    secrets = {o["metadata"]["name"] for o in of_kind(objects, "Secret")} | OUT_OF_BAND[overlay]
    for dep in of_kind(objects, "Deployment"):
        name, c = dep["metadata"]["name"], container(dep)
        sources = c.get("envFrom", [])
        cm_refs = [s["configMapRef"] for s in sources if "configMapRef" in s]
        secret_refs = [s["secretRef"] for s in sources if "secretRef" in s]
        if not cm_refs or (not secret_refs and name != CONSOLE):
            problems.append(f"{name}: env must come from a ConfigMap and a Secret")
        for ref in cm_refs:
            if ref["name"] not in config_maps:
                problems.append(f"{name}: ConfigMap {ref['name']} is not in the overlay")
        for ref in secret_refs:
            if ref["name"] not in secrets and not ref.get("optional"):
                problems.append(f"{name}: Secret {ref['name']} is neither rendered nor documented")
        for volume in dep["spec"]["template"]["spec"].get("volumes", []):
            secret = volume.get("secret", {}).get("secretName")
            if secret and secret not in secrets:
                problems.append(
                    f"{name}: Secret volume {secret} is neither rendered nor documented"
                )
    return problems


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def scaling_problems(objects: list[Obj]) -> list[str]:
    """One CPU HPA and one PDB per service, aimed at its Deployment and its pods."""
    problems = []
    deployments = {d["metadata"]["name"]: d for d in of_kind(objects, "Deployment")}
    if set(deployments) != set(DEPLOYMENTS):
        problems.append(f"Deployments {sorted(deployments)}, expected {sorted(DEPLOYMENTS)}")
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(objects, "HorizontalPodAutoscaler")
    }
    pdbs = list(of_kind(objects, "PodDisruptionBudget"))
    for name, dep in deployments.items():
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        hpa = hpas.get(name)
        if hpa is None:
            problems.append(f"{name}: no HorizontalPodAutoscaler")
        else:
            if hpa["spec"]["scaleTargetRef"]["kind"] != "Deployment":
                problems.append(f"{name}: the HPA does not scale the Deployment")
            cpu = [
                m
                for m in hpa["spec"].get("metrics", [])
                if m.get("resource", {}).get("name") == "cpu"
            ]
            if not cpu:
                problems.append(f"{name}: the HPA has no CPU target")
            if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
                problems.append(f"{name}: HPA minReplicas above maxReplicas")
        matching = [p for p in pdbs if selects(p["spec"]["selector"], pod_labels)]
        if len(matching) != 1:
            problems.append(f"{name}: {len(matching)} PodDisruptionBudgets select its pods")
        service = [s for s in of_kind(objects, "Service") if s["metadata"]["name"] == name]
        if not service or not all(
            selects({"matchLabels": s["spec"]["selector"]}, pod_labels) for s in service
        ):
            problems.append(f"{name}: no Service selecting its pods")
    return problems


# --- the tests ---


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_object_fits_its_schema(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert schema_problems(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_probes_healthz_for_liveness_and_readyz_for_readiness(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert probe_problems(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_requests_resources_and_runs_non_root_on_a_read_only_root(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert runtime_problems(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_takes_its_env_from_a_config_map_and_a_secret(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert env_source_problems(rendered[overlay], overlay) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_its_own_hpa_pdb_and_service(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    assert scaling_problems(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_metrics_annotations_point_at_the_service_port(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    for dep in of_kind(rendered[overlay], "Deployment"):
        if dep["metadata"]["name"] == CONSOLE:
            continue
        annotations = dep["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] == "/metrics"
        assert int(annotations["prometheus.io/port"]) == SERVICES[dep["metadata"]["name"]]


def config(objects: list[Obj], prefix: str) -> dict[str, str]:
    [cm] = [
        o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"].startswith(prefix + "-")
    ]
    return dict(cm["data"])


def test_prod_runs_at_least_three_replicas_scales_to_ten_and_keeps_two_in_disruptions(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["prod"]
    for dep in of_kind(objects, "Deployment"):
        assert dep["spec"]["replicas"] >= 3, dep["metadata"]["name"]
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] >= 3, hpa["metadata"]["name"]
        assert hpa["spec"]["maxReplicas"] == 10, hpa["metadata"]["name"]
    for pdb in of_kind(objects, "PodDisruptionBudget"):
        assert pdb["spec"]["minAvailable"] == 2, pdb["metadata"]["name"]
    assert config(objects, "crm-config")["CRM_ENVIRONMENT"] == "production"


def test_prod_ships_no_development_secret(rendered: dict[str, list[Obj]]) -> None:
    text = yaml.safe_dump_all(rendered["prod"])
    assert "dev-only-" not in text
    assert not list(of_kind(rendered["prod"], "Secret"))


def test_dev_runs_one_small_replica_per_service_in_development_mode(
    rendered: dict[str, list[Obj]],
) -> None:
    objects = rendered["dev"]
    for dep in of_kind(objects, "Deployment"):
        assert dep["spec"]["replicas"] == 1
        assert container(dep)["resources"]["requests"]["cpu"] == "50m"
    for hpa in of_kind(objects, "HorizontalPodAutoscaler"):
        assert hpa["spec"]["minReplicas"] == 1
    assert config(objects, "crm-config")["CRM_ENVIRONMENT"] == "development"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_listens_where_its_config_says(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    objects = rendered[overlay]
    shared = config(objects, "crm-config")
    assert shared["CRM_HTTP_HOST"] == "0.0.0.0"
    assert "replicaSet=" in shared["CRM_MONGO_URI"]
    for name, port in SERVICES.items():
        own = config(objects, f"{name}-config")
        assert own[f"CRM_{name.upper()}_HTTP_PORT"] == str(port)
        assert own[f"CRM_{name.upper()}_CONSUMER_GROUP"] == f"crm-{name}"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("name", SERVICES)
def test_each_services_rendered_config_is_accepted_by_the_settings(
    rendered: dict[str, list[Obj]],
    overlay: str,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    objects = rendered[overlay]
    values = {**config(objects, "crm-config"), **config(objects, f"{name}-config")}
    # Only what the file sets: the shell's stack variables (`crm-stack env`) must not leak in.
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    # The mounted Secret of its KafkaUser, here a local stand-in (Strimzi makes a random one).
    mounted = values[f"CRM_{name.upper()}_KAFKA_PASSWORD_FILE"]
    assert mounted == f"{user_mount(deployment(objects, name))}/password"
    (tmp_path / "password").write_text("made-by-the-user-operator")
    monkeypatch.setenv(f"CRM_{name.upper()}_KAFKA_PASSWORD_FILE", str(tmp_path / "password"))
    if overlay == "prod":
        # The operator's <service>-secrets (docs/deploy.md), here a stand-in value.
        monkeypatch.setenv(f"CRM_{name.upper()}_CURSOR_SECRET", "made-by-the-operator")
        monkeypatch.setenv(f"CRM_{name.upper()}_KEY_VAULT_MASTER_KEY", "made-by-the-operator")
    else:
        [secret] = [
            o
            for o in of_kind(objects, "Secret")
            if o["metadata"]["name"].startswith(f"{name}-secrets-")
        ]
        cursor = base64.b64decode(secret["data"][f"CRM_{name.upper()}_CURSOR_SECRET"])
        assert cursor.startswith(b"dev-only-")

    class Settings(ServiceSettings):
        service_name = name

    settings = Settings()  # production's guard runs here for the prod overlay
    assert settings.environment == ("production" if overlay == "prod" else "development")
    assert settings.http_port == SERVICES[name]
    assert settings.consumer_group == f"crm-{name}"
    assert str(settings.jwt_public_key_file) == "/etc/crm/jwt/jwt-public.pem"
    assert settings.kafka_security_protocol == "SASL_SSL"
    assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512"
    assert settings.kafka_username == f"crm-{name}"
    assert settings.kafka_password.get_secret_value() == "made-by-the-user-operator"
    assert str(settings.kafka_ca_file) == "/etc/crm/kafka-ca/ca.crt"
    assert settings.oidc_issuer == values["CRM_OIDC_ISSUER"]
    assert settings.oidc_discovery_url == values.get("CRM_OIDC_DISCOVERY_URL")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_consoles_rendered_config_is_accepted_and_meets_the_provider_where_it_can(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_console.settings import ConsoleSettings
    from crm_stack import realm_import

    objects = rendered[overlay]
    values = {**config(objects, "crm-config"), **config(objects, "console-config")}
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    for key, value in values.items():
        monkeypatch.setenv(key, value)

    settings = ConsoleSettings()  # production's guard (https provider and console) runs here
    assert settings.environment == ("production" if overlay == "prod" else "development")
    assert settings.http_port == DEPLOYMENTS[CONSOLE]
    assert settings.api_urls() == {name: f"http://{name}:{port}" for name, port in SERVICES.items()}
    console = realm_import.OVERLAYS[overlay]
    assert settings.public_url in console.console
    assert settings.oidc_issuer == f"{console.provider}/realms/crm"
    # The browser meets the provider at its public address; the pod, where the services do.
    assert settings.oidc_discovery_url == values.get("CRM_OIDC_DISCOVERY_URL")
    assert settings.secure_cookies is (overlay == "prod")


def deployment(objects: list[Obj], name: str) -> Obj:
    return next(d for d in of_kind(objects, "Deployment") if d["metadata"]["name"] == name)


def user_mount(dep: Obj) -> str:
    """Where a Deployment mounts the Secret of its KafkaUser (``crm-<name>``)."""
    pod = dep["spec"]["template"]["spec"]
    volume = next(
        v["name"]
        for v in pod["volumes"]
        if v.get("secret", {}).get("secretName") == f"crm-{dep['metadata']['name']}"
    )
    mount: str = next(m["mountPath"] for m in container(dep)["volumeMounts"] if m["name"] == volume)
    return mount


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_service_the_back_office_and_ops_have_a_kafka_user_with_its_acls(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    from crm_stack import manifests

    users = {u["metadata"]["name"]: u for u in of_kind(rendered[overlay], "KafkaUser")}
    assert set(users) == {f"crm-{n}" for n in SERVICES} | {"crm-backoffice", "crm-ops"}
    for user in users.values():
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        assert user["spec"]["authorization"]["type"] == "simple"

    def allowed(user: str, operation: str) -> set[str]:
        return {
            acl["resource"]["name"]
            for acl in users[user]["spec"]["authorization"]["acls"]
            if acl["resource"]["type"] == "topic" and operation in acl["operations"]
        }

    own = {"crm-contacts": "crm.contacts.v1", "crm-campaigns": "crm.campaigns.v1"}
    own |= {"crm-proposals": "crm.proposals.v1", "crm-notify": "crm.notify.v1"}
    for user, consumed in CONSUMES.items():
        assert allowed(user, "Read") == set(consumed)
        assert allowed(user, "Write") & set(TOPICS) == {own[user]}
    assert allowed("crm-backoffice", "Read") == set(SERVICE_TOPICS)
    assert allowed("crm-backoffice", "Write") == {BACKOFFICE}
    committed = (K8S / "base" / "kafka-users" / "users.yaml").read_text()
    assert committed == manifests.strimzi_users(), "run `uv run crm-stack acls --write`"


def test_the_kafka_cluster_takes_tls_scram_clients_and_authorises_each_request(
    render: Any,
) -> None:
    objects = render(K8S / "kafka-cluster")
    kafka = next(of_kind(objects, "Kafka"))
    assert kafka["metadata"]["name"] == "crm-kafka"
    listeners = kafka["spec"]["kafka"]["listeners"]
    assert [(x["tls"], x["authentication"]["type"]) for x in listeners] == [(True, "scram-sha-512")]
    assert listeners[0]["port"] == 9093
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert kafka["spec"]["kafka"]["config"]["allow.everyone.if.no.acl.found"] is False
    assert "userOperator" in kafka["spec"]["entityOperator"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_let_each_consumer_group_scale_and_have_their_dead_letter_topics(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    topics = {t["spec"]["topicName"]: t for t in of_kind(rendered[overlay], "KafkaTopic")}
    for topic in TOPICS:
        assert topics[topic]["spec"]["partitions"] == PARTITIONS, topic
        assert topics[topic]["spec"]["config"]["retention.ms"] == -1, "replays need the history"
    expected_dlqs = {dead_letter_topic(t, g) for g, ts in CONSUMES.items() for t in ts}
    assert set(topics) == set(TOPICS) | expected_dlqs
    replicas = {t["spec"]["replicas"] for t in topics.values()}
    assert replicas == ({1} if overlay == "dev" else {3})
    for t in topics.values():
        isr = t["spec"]["config"]["min.insync.replicas"]
        assert isr < t["spec"]["replicas"] or t["spec"]["replicas"] == 1, t["spec"]["topicName"]


def keycloak_cr(objects: list[Obj]) -> Obj:
    [provider] = of_kind(objects, "Keycloak")
    return provider


def secret_refs(obj: Obj) -> set[str]:
    """The Secrets a Keycloak or KeycloakRealmImport names."""
    spec = obj["spec"]
    named = {spec.get("http", {}).get("tlsSecret")}
    named |= {
        spec.get("db", {}).get(k, {}).get("name") for k in ("usernameSecret", "passwordSecret")
    }
    named |= {p["secret"]["name"] for p in spec.get("placeholders", {}).values()}
    return {n for n in named if n}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_runs_the_provider_at_the_local_stacks_version_on_its_public_address(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    from crm_stack import keycloak, realm_import

    provider = keycloak_cr(rendered[overlay])
    spec = provider["spec"]
    assert spec["image"] == f"quay.io/keycloak/keycloak:{keycloak.VERSION}"
    assert spec["hostname"]["hostname"] == realm_import.OVERLAYS[overlay].provider
    assert provider["metadata"]["name"] == realm_import.KEYCLOAK_CR
    secrets = {o["metadata"]["name"] for o in of_kind(rendered[overlay], "Secret")}
    for obj in [provider, *of_kind(rendered[overlay], "KeycloakRealmImport")]:
        assert secret_refs(obj) <= secrets | OUT_OF_BAND[overlay], obj["kind"]


def test_the_production_provider_serves_https_only_from_a_real_database(
    rendered: dict[str, list[Obj]],
) -> None:
    spec = keycloak_cr(rendered["prod"])["spec"]
    assert spec["hostname"]["hostname"].startswith("https://")
    assert spec["http"].get("httpEnabled") is not True
    assert spec["http"]["tlsSecret"]
    assert spec["db"]["vendor"] == "postgres"
    assert spec["instances"] >= 2
    assert not spec["hostname"].get("backchannelDynamic")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_trust_the_providers_public_issuer_and_read_its_keys_where_they_reach_it(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    from crm_kit.oidc import ProviderKeys
    from crm_stack.config import KEYCLOAK_REALM

    objects = rendered[overlay]
    provider = keycloak_cr(objects)
    shared = config(objects, "crm-config")
    issuer = shared["CRM_OIDC_ISSUER"]
    assert issuer == f"{provider['spec']['hostname']['hostname']}/realms/{KEYCLOAK_REALM}"
    inside = shared.get("CRM_OIDC_DISCOVERY_URL")
    if overlay == "prod":
        assert inside is None, "production reads the keys on the public https address"
        return
    # The operator's Service for the CR, on its http port (8080 unless the CR says otherwise).
    port = provider["spec"]["http"].get("httpPort", 8080)
    service = f"{provider['metadata']['name']}-service"
    assert inside == f"http://{service}:{port}/realms/{KEYCLOAK_REALM}"
    assert provider["spec"]["http"]["httpEnabled"] is True
    keys = ProviderKeys(issuer, discovery_url=inside)
    assert keys.inside_address(f"{issuer}/protocol/openid-connect/certs").startswith(inside)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_overlay_imports_the_realm_made_for_it_from_the_repositorys_realm(
    rendered: dict[str, list[Obj]], overlay: str
) -> None:
    from crm_stack import realm_import
    from crm_stack.config import KEYCLOAK_REALM

    committed = realm_import.path(overlay).read_text(encoding="utf-8")
    assert committed == realm_import.render(overlay), "run `uv run crm-stack realm-import --write`"
    [imported] = of_kind(rendered[overlay], "KeycloakRealmImport")
    assert imported["spec"]["keycloakCRName"] == keycloak_cr(rendered[overlay])["metadata"]["name"]
    realm = imported["spec"]["realm"]
    assert realm["realm"] == KEYCLOAK_REALM
    console = realm_import.OVERLAYS[overlay].console
    for client in realm["clients"]:
        for uri in client.get("redirectUris", []):
            assert uri.startswith(tuple(o + "/" for o in console)), (client["clientId"], uri)


def test_demo_users_and_development_secrets_stay_out_of_production(
    rendered: dict[str, list[Obj]],
) -> None:
    from crm_stack import keycloak

    [prod] = of_kind(rendered["prod"], "KeycloakRealmImport")
    realm = prod["spec"]["realm"]
    assert "dev-only-" not in json.dumps(realm)
    assert all(user.get("serviceAccountClientId") for user in realm["users"])
    assert not any(user.get("credentials") for user in realm["users"])
    for client in realm["clients"]:
        if "secret" in client:
            variable = client["secret"].removeprefix("${").removesuffix("}")
            assert prod["spec"]["placeholders"][variable]["secret"] == {
                "name": "crm-keycloak-clients",
                "key": client["clientId"],
            }
    [dev] = of_kind(rendered["dev"], "KeycloakRealmImport")
    people = [u["username"] for u in dev["spec"]["realm"]["users"] if u.get("credentials")]
    assert people == keycloak.demo_users()


def test_a_realm_changed_without_regenerating_the_imports_is_caught(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crm_stack import realm_import

    realm = json.loads(realm_import.KEYCLOAK_REALM_FILE.read_text(encoding="utf-8"))
    realm["roles"]["realm"].append({"name": "auditor", "description": "Reads the audit trail"})
    changed = tmp_path / "crm-realm.json"
    changed.write_text(json.dumps(realm), encoding="utf-8")
    monkeypatch.setattr(realm_import, "KEYCLOAK_REALM_FILE", changed)

    for overlay in OVERLAYS:
        assert realm_import.path(overlay).read_text(encoding="utf-8") != realm_import.render(
            overlay
        )
        assert '"auditor"' in realm_import.render(overlay)


def test_the_base_alone_renders_with_a_valid_schema(render: Any) -> None:
    assert schema_problems(render(K8S / "base")) == []


# --- the checks catch broken manifests ---


@pytest.fixture
def k8s_copy(tmp_path: Path) -> Path:
    shutil.copytree(K8S, tmp_path / "k8s")
    return tmp_path / "k8s"


def _edit_deployment(k8s: Path, service: str, edit: Any) -> None:
    path = k8s / "base" / service / "deployment.yaml"
    doc = yaml.safe_load(path.read_text())
    edit(doc["spec"]["template"]["spec"]["containers"][0])
    path.write_text(yaml.safe_dump(doc))


def test_a_deployment_without_its_readiness_probe_is_caught(k8s_copy: Path, render: Any) -> None:
    _edit_deployment(k8s_copy, "notify", lambda c: c.pop("readinessProbe"))
    problems = probe_problems(render(k8s_copy / "overlays" / "prod"))
    assert problems == ["notify: no readinessProbe with httpGet"]


def test_a_liveness_probe_on_the_wrong_path_is_caught(k8s_copy: Path, render: Any) -> None:
    _edit_deployment(k8s_copy, "contacts", lambda c: c["livenessProbe"]["httpGet"].update(path="/"))
    assert probe_problems(render(k8s_copy / "overlays" / "dev")) == [
        "contacts: livenessProbe path '/', expected /healthz"
    ]


def test_a_root_container_without_requests_is_caught(k8s_copy: Path, render: Any) -> None:
    def edit(c: Obj) -> None:
        c["securityContext"].pop("readOnlyRootFilesystem")
        c.pop("resources")

    _edit_deployment(k8s_copy, "campaigns", edit)
    (k8s_copy / "overlays" / "prod" / "production-deployments.yaml").write_text(
        "- op: replace\n  path: /spec/replicas\n  value: 3\n"
    )
    problems = runtime_problems(render(k8s_copy / "overlays" / "prod"))
    assert "campaigns: no requests.cpu" in problems
    assert "campaigns: root filesystem is writable" in problems


def test_a_misspelt_field_fails_the_schema_check(k8s_copy: Path, render: Any) -> None:
    _edit_deployment(k8s_copy, "proposals", lambda c: c.update(imagePullPolicy=None, envFrm=[]))
    problems = schema_problems(render(k8s_copy / "overlays" / "dev"))
    assert any("envFrm" in p and p.startswith("Deployment/proposals") for p in problems)


def test_a_missing_pdb_or_a_topic_with_bad_partitions_is_caught(
    k8s_copy: Path, render: Any
) -> None:
    kustomization = k8s_copy / "base" / "proposals" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - pdb.yaml\n", ""))
    topics = k8s_copy / "base" / "kafka-topics" / "topics.yaml"
    topics.write_text(topics.read_text().replace("partitions: 6", "partitions: zero", 1))
    objects = render(k8s_copy / "overlays" / "prod")
    assert scaling_problems(objects) == ["proposals: 0 PodDisruptionBudgets select its pods"]
    assert any(p.startswith("KafkaTopic/crm.contacts.v1: 'zero'") for p in schema_problems(objects))
