"""Kafka access: one translation of settings into client options, and the ACLs of a spec."""

from __future__ import annotations

from pathlib import Path

import pytest
from crm_contracts.contacts import ClientRegistered
from crm_contracts.topics import (
    BACKOFFICE,
    CAMPAIGNS,
    CONTACTS,
    NOTIFY,
    PROPOSALS,
    SERVICE_TOPICS,
    TOPICS,
)
from crm_kit.app import ServiceSpec, Subscription
from crm_kit.kafka import (
    AclRule,
    KafkaAccess,
    KafkaAccessError,
    backoffice_acls,
    broker_options,
    client_options,
    kafka_security,
    operator_acls,
    service_acls,
)
from faststream.security import SASLScram512


def test_plaintext_adds_nothing_but_the_address() -> None:
    access = KafkaAccess("k:9092")
    assert kafka_security(access) is None
    assert client_options(access) == {"bootstrap_servers": "k:9092"}
    assert broker_options(access) == {"bootstrap_servers": "k:9092", "security": None}


def test_scram_over_plaintext_gives_aiokafka_its_sasl_options() -> None:
    access = KafkaAccess("k:9092", "SASL_PLAINTEXT", "SCRAM-SHA-512", "crm-contacts", "pw")
    security = kafka_security(access)
    assert isinstance(security, SASLScram512)
    assert security.use_ssl is False
    options = client_options(access)
    assert options["security_protocol"] == "SASL_PLAINTEXT"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == (
        "crm-contacts",
        "pw",
    )
    assert "pw" not in repr(access)


def test_scram_over_tls_trusts_the_given_ca(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.crt"
    ca_file.write_bytes(_self_signed_ca())
    access = KafkaAccess("k:9093", "SASL_SSL", "SCRAM-SHA-512", "crm-contacts", "pw", ca_file)
    options = client_options(access)
    assert options["security_protocol"] == "SASL_SSL"
    context = options["ssl_context"]
    assert context is not None
    assert len(context.get_ca_certs()) == 1


def _self_signed_ca() -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test cluster CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_sasl_without_credentials_is_refused() -> None:
    with pytest.raises(KafkaAccessError, match="needs kafka_username and kafka_password"):
        client_options(KafkaAccess("k:9092", "SASL_PLAINTEXT"))


def test_the_environment_gives_address_and_credentials_earlier_prefixes_first() -> None:
    env = {
        "CRM_KAFKA_BOOTSTRAP": "k:9092",
        "CRM_KAFKA_USERNAME": "crm-stack-admin",
        "CRM_KAFKA_PASSWORD": "admin",
        "CRM_OPS_KAFKA_USERNAME": "crm-ops",
        "CRM_OPS_KAFKA_PASSWORD": "ops",
    }
    admin = KafkaAccess.from_env(env)
    assert (admin.bootstrap, admin.security_protocol, admin.username) == (
        "k:9092",
        "SASL_PLAINTEXT",
        "crm-stack-admin",
    )
    ops = KafkaAccess.from_env(env, bootstrap="other:1", prefixes=("CRM_OPS_KAFKA_", "CRM_KAFKA_"))
    assert (ops.bootstrap, ops.username, ops.password) == ("other:1", "crm-ops", "ops")
    assert KafkaAccess.from_env({}).security_protocol == "PLAINTEXT"
    with pytest.raises(KafkaAccessError, match="SECURITY_PROTOCOL"):
        KafkaAccess.from_env({"CRM_KAFKA_SECURITY_PROTOCOL": "SASL_TLS"})
    assert KafkaAccess.from_env(admin.env()) == admin


def test_a_services_rules_come_from_what_it_produces_and_consumes() -> None:
    spec = ServiceSpec(
        name="sample",
        title="Sample",
        produces=[ClientRegistered],
        subscriptions=[
            Subscription(topics=(CAMPAIGNS, NOTIFY), handlers={}),
            Subscription(topics=(PROPOSALS,), handlers={}, group="reporting"),
        ],
    )
    rules = service_acls(spec)
    user = "crm-sample"
    assert {r.principal for r in rules} == {user}
    writes = {r.name for r in rules if r.operation == "WRITE" and r.resource_type == "TOPIC"}
    assert writes == {
        CONTACTS,
        f"{CAMPAIGNS}.dlq.crm-sample",
        f"{NOTIFY}.dlq.crm-sample",
        f"{PROPOSALS}.dlq.reporting",
    }
    reads = {r.name for r in rules if r.operation == "READ" and r.resource_type == "TOPIC"}
    assert reads == {CAMPAIGNS, NOTIFY, PROPOSALS}
    groups = {(r.pattern_type, r.name) for r in rules if r.resource_type == "GROUP"}
    assert groups == {("PREFIXED", "crm-sample"), ("LITERAL", "reporting")}
    creates = {r.name for r in rules if r.operation == "CREATE"}
    assert creates == writes - {CONTACTS}
    assert not any(r.resource_type == "CLUSTER" for r in rules)
    assert AclRule(user, "TOPIC", "LITERAL", CONTACTS, "READ") not in rules


def test_the_back_office_reads_the_services_topics_and_writes_only_its_own() -> None:
    office = backoffice_acls()
    assert {r.operation for r in office} == {"READ", "WRITE", "DESCRIBE"}
    reads = {r.name for r in office if r.resource_type == "TOPIC" and r.operation == "READ"}
    assert reads == set(SERVICE_TOPICS)
    writes = {r.name for r in office if r.operation == "WRITE"}
    assert writes == {BACKOFFICE}


def test_the_operator_may_not_create_or_alter() -> None:
    ops = operator_acls()
    assert not {r.operation for r in ops} & {"CREATE", "DELETE", "ALTER"}
    assert {r.name for r in ops if r.operation == "WRITE"} == set(TOPICS)
