"""The AsyncAPI documents in docs/api/: valid AsyncAPI 3.0.0, examples that match their
messages, servers that match the deployments, and enough to consume the events from them alone.

The AsyncAPI 3.0.0 JSON Schema is vendored in ``data/asyncapi/`` (see its README). The
"back-office consumer" below reads nothing but a document: it decodes one real record of every
event type the services produce, and fails when a document leaves out a type or a field.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from crm_contracts.examples import example_events
from crm_contracts.topics import BACKOFFICE
from crm_kit.logs import KAFKA_CORRELATION_HEADER
from crm_kit.outbox import outbox_entry
from crm_kit.relay import correlation_of
from crm_ops.apidocs import DOCS, ROOT, SERVICES
from crm_stack.config import DEFAULT_KAFKA_PORT
from jsonschema import Draft7Validator, Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7, DRAFT202012

ASYNCAPI_SCHEMA = Path(__file__).parent / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"
DOC_URI = "urn:crm:asyncapi"


def _documents() -> dict[str, dict[str, Any]]:
    return {s: json.loads((DOCS / f"{s}.asyncapi.json").read_text()) for s in SERVICES}


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    return _documents()


def _produced_types() -> dict[str, str]:
    """Every event type a service produces, with the service: from the services' specs."""
    import importlib

    produced: dict[str, str] = {}
    for service in SERVICES:
        spec = importlib.import_module(f"crm_{service}.app").SPEC
        produced.update({cls.event_type: service for cls in spec.produces})
    return produced


def test_every_document_is_valid_asyncapi_3(documents: dict[str, dict[str, Any]]) -> None:
    meta = json.loads(ASYNCAPI_SCHEMA.read_text())
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(part, default_specification=DRAFT7))
        for uri, part in meta["definitions"].items()
    )
    validator = Draft7Validator(meta, registry=registry)
    for service, document in documents.items():
        problems = [f"{e.json_path}: {e.message[:200]}" for e in validator.iter_errors(document)]
        assert problems == [], service


def test_the_validator_refuses_a_broken_document(documents: dict[str, dict[str, Any]]) -> None:
    meta = json.loads(ASYNCAPI_SCHEMA.read_text())
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(part, default_specification=DRAFT7))
        for uri, part in meta["definitions"].items()
    )
    broken = copy.deepcopy(documents["notify"])
    broken["operations"]["send.crm.notify.v1"]["action"] = "publish"  # AsyncAPI 2's word
    assert not Draft7Validator(meta, registry=registry).is_valid(broken)


def test_channels_are_one_per_topic_with_the_topic_as_id(
    documents: dict[str, dict[str, Any]],
) -> None:
    for service, document in documents.items():
        for channel_id, channel in document["channels"].items():
            assert channel["address"] == channel_id
            assert channel_id in {f"crm.{s}.v1" for s in SERVICES} | {BACKOFFICE}
        own = f"crm.{service}.v1"
        assert document["operations"][f"send.{own}"]["action"] == "send"
        assert f"send.{BACKOFFICE}" not in document["operations"]
    for reader in ("contacts", "proposals"):
        inbound = documents[reader]["channels"][BACKOFFICE]
        assert inbound["description"].startswith("The inbound topic back-office systems")
        assert documents[reader]["operations"][f"receive.{BACKOFFICE}"]["action"] == "receive"


def test_the_servers_are_the_deployments_brokers(documents: dict[str, dict[str, Any]]) -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    compose_env = next(
        v for k, v in compose.items() if isinstance(v, dict) and "CRM_KAFKA_BOOTSTRAP" in v
    )
    k8s = dict(
        line.split("=", 1)
        for line in (ROOT / "deploy/k8s/base/config/crm.env").read_text().splitlines()
        if line and not line.startswith("#")
    )
    for document in documents.values():
        servers = document["servers"]
        assert servers["local"]["host"] == f"127.0.0.1:{DEFAULT_KAFKA_PORT}"
        assert servers["compose"]["host"] == compose_env["CRM_KAFKA_BOOTSTRAP"]
        assert servers["k8s"]["host"] == k8s["CRM_KAFKA_BOOTSTRAP"]
        # SASL over TCP locally and in compose, over TLS in k8s; SCRAM-SHA-512 everywhere.
        assert compose_env["CRM_KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
        assert servers["compose"]["protocol"] == servers["local"]["protocol"] == "kafka"
        assert k8s["CRM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert servers["k8s"]["protocol"] == "kafka-secure"
        schemes = document["components"]["securitySchemes"]
        for server in servers.values():
            [ref] = server["security"]
            assert schemes[ref["$ref"].rsplit("/", 1)[1]]["type"] == "scramSha512"
        assert {compose_env["CRM_KAFKA_SASL_MECHANISM"], k8s["CRM_KAFKA_SASL_MECHANISM"]} == {
            "SCRAM-SHA-512"
        }


# --- a consumer written from a document alone ------------------------------------------------


class Undecodable(Exception):
    """The document does not describe the record."""


def _closed(schema: Any) -> Any:
    """``schema`` with every object that lists its properties closed to others: a field the
    document does not name is then an error, not something silently let through."""
    if isinstance(schema, dict):
        out = {k: _closed(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out and "allOf" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_closed(v) for v in schema]
    return schema


@dataclass
class DocumentConsumer:
    """Decodes records of the topics one AsyncAPI document describes, knowing nothing else."""

    document: dict[str, Any]

    def __post_init__(self) -> None:
        strict = copy.deepcopy(self.document)
        strict["components"]["schemas"] = _closed(strict["components"]["schemas"])
        resource = Resource.from_contents(strict, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(DOC_URI, resource)
        self.strict = strict

    def _validate(self, pointer: str, instance: Any) -> None:
        validator = Draft202012Validator({"$ref": f"{DOC_URI}#{pointer}"}, registry=self.registry)
        errors = sorted(validator.iter_errors(instance), key=lambda e: e.json_path)
        if errors:
            raise Undecodable("; ".join(f"{e.json_path}: {e.message[:160]}" for e in errors))

    def _message_id(self, topic: str, event_type: str, version: int) -> str:
        """The message of ``topic``'s channel whose payload fixes this type and version."""
        channel = next((c for c in self.strict["channels"].values() if c["address"] == topic), None)
        if channel is None:
            raise Undecodable(f"no channel for topic {topic}")
        for ref in channel["messages"].values():
            name = ref["$ref"].rsplit("/", 1)[1]
            fixed = self.strict["components"]["messages"][name]["payload"]["properties"]
            if fixed["event_type"]["const"] == event_type and (
                fixed["schema_version"]["const"] == version
            ):
                return name
        raise Undecodable(f"{topic} has no message {event_type} v{version}")

    def decode(
        self, topic: str, key: bytes, headers: dict[str, str], value: bytes
    ) -> tuple[str, dict[str, Any]]:
        """(event type, payload) of one record, checked against the document."""
        record = json.loads(value)
        self._validate("/components/schemas/Envelope", record)
        name = self._message_id(topic, record["event_type"], record["schema_version"])
        message = self.strict["components"]["messages"][name]
        self._validate(f"/components/messages/{name}/payload", record)
        for ref in message.get("traits", []):
            trait_id = ref["$ref"].rsplit("/", 1)[1]
            trait = self.strict["components"]["messageTraits"][trait_id]
            at = f"/components/messageTraits/{trait_id}"
            self._validate(f"{at}/headers", headers)
            # The trait: the key is the envelope's key; the header is its correlation id.
            self._validate(f"{at}/bindings/kafka/key", key.decode())
            if key.decode() != record["key"]:
                raise Undecodable("the record's key is not the envelope's key")
            header = trait["correlationId"]["location"].split("#/", 1)[1]
            if headers.get(header) != record["correlation_id"]:
                raise Undecodable("the correlation header differs from the envelope's")
        return record["event_type"], record["payload"]


def _records() -> list[tuple[str, bytes, dict[str, str], bytes, str]]:
    """One record of every produced event type, as the services' relay publishes it: the
    outbox entry's key, value and correlation header; with the producing service."""
    produced = _produced_types()
    records = []
    for event in example_events():
        if event.event_type not in produced:
            continue
        entry = outbox_entry(event, producer=produced[event.event_type])
        correlation = correlation_of(entry)
        assert correlation
        headers = {KAFKA_CORRELATION_HEADER: correlation}
        key, value = entry["key"].encode(), entry["value"].encode()
        records.append((entry["topic"], key, headers, value, produced[event.event_type]))
    assert {json.loads(r[3])["event_type"] for r in records} == set(produced)
    return records


def test_a_back_office_consumer_decodes_every_event_from_the_documents_alone(
    documents: dict[str, dict[str, Any]],
) -> None:
    decoded = {}
    for topic, key, headers, value, service in _records():
        event_type, payload = DocumentConsumer(documents[service]).decode(
            topic, key, headers, value
        )
        decoded[event_type] = payload
        assert payload == json.loads(value)["payload"]
    assert set(decoded) == set(_produced_types())


def test_the_consumer_fails_when_a_document_omits_a_type_or_a_field(
    documents: dict[str, dict[str, Any]],
) -> None:
    topic, key, headers, value, service = next(
        r for r in _records() if json.loads(r[3])["event_type"] == "InvitationRequested"
    )
    without_type = copy.deepcopy(documents[service])
    del without_type["channels"][topic]["messages"]["InvitationRequested"]
    with pytest.raises(Undecodable, match="no message InvitationRequested"):
        DocumentConsumer(without_type).decode(topic, key, headers, value)

    without_field = copy.deepcopy(documents[service])
    payload_schema = without_field["components"]["schemas"]["InvitationRequested"]
    del payload_schema["properties"]["answer_url"]
    with pytest.raises(Undecodable, match="answer_url"):
        DocumentConsumer(without_field).decode(topic, key, headers, value)

    with pytest.raises(Undecodable, match="correlation"):
        DocumentConsumer(documents[service]).decode(
            topic, key, {KAFKA_CORRELATION_HEADER: "another"}, value
        )


def test_every_example_matches_its_message(documents: dict[str, dict[str, Any]]) -> None:
    seen = 0
    for document in documents.values():
        consumer = DocumentConsumer(document)
        for name, message in document["components"]["messages"].items():
            topic = next(
                c["address"] for c in document["channels"].values() if name in c["messages"]
            )
            assert message.get("examples"), name
            for example in message["examples"]:
                value = json.dumps(example["payload"]).encode()
                key = example["payload"]["key"].encode()
                event_type, _ = consumer.decode(topic, key, example["headers"], value)
                assert event_type == name
                seen += 1
    assert seen >= len(_produced_types())


def test_the_envelope_is_a_schema_naming_its_fields(documents: dict[str, dict[str, Any]]) -> None:
    for document in documents.values():
        envelope = document["components"]["schemas"]["Envelope"]
        assert set(envelope["properties"]) == {
            "event_id",
            "event_type",
            "schema_version",
            "occurred_at",
            "producer",
            "key",
            "correlation_id",
            "causation_id",
            "actor",
            "payload",
        }
        assert envelope["additionalProperties"] is False
        actor = document["components"]["schemas"]["Actor"]
        assert set(actor["properties"]) == {"app", "employee_id"}
        trait = document["components"]["messageTraits"]["kafkaRecord"]
        header = trait["headers"]["properties"]["correlation_id"]
        assert header["description"].startswith("Equal to the envelope's `correlation_id`")
        with pytest.raises(ValidationError):
            Draft202012Validator(envelope).validate({"event_type": "X"})
