"""The AsyncAPI 3 document of a service's events, built from its spec and the contracts.

What a reader of a topic needs, and nothing it must guess:

- **channels**: one per Kafka topic, its id the topic's name (``crm.campaigns.v1``), listing the
  messages (one per event type) the service sends there or receives from there;
- **operations**: ``send.<topic>`` for the service's own topic, ``receive.<topic>`` for each
  topic it consumes, with its consumer group;
- **messages**: one per event type (its id the ``event_type``); the message value is the
  envelope (``components/schemas/Envelope``) whose ``event_type`` and ``schema_version`` are
  fixed and whose ``payload`` is the event's own schema; each has an example (a whole record:
  headers and value) built from ``crm_contracts.examples``;
- **message trait** ``kafkaRecord``: the record's key (the envelope's ``key``, the aggregate id)
  and headers (``correlation_id``, always equal to the envelope's ``correlation_id``);
- **servers**: the local stack, docker compose and Kubernetes, with their SASL/SCRAM security.

FastStream's own generator describes a subscriber's batch handler rather than the events, and
the event class rather than the envelope on the wire; so the document is written here, and
``GET /asyncapi`` and ``crm-apidocs`` both serve this one.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from crm_contracts.base import ContractEvent
from crm_contracts.envelope import Envelope
from crm_contracts.examples import example_events
from crm_contracts.topics import INBOUND_TOPICS, PARTITIONS
from pydantic.json_schema import models_json_schema

from crm_kit.logs import KAFKA_CORRELATION_HEADER

if TYPE_CHECKING:
    from crm_kit.app import ServiceSpec

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
REF_SCHEMAS = "#/components/schemas/"
TRAIT = "kafkaRecord"
SECURITY = "scramSha512"

SERVERS: dict[str, dict[str, Any]] = {
    # deploy/local (crm-stack): the broker on the loopback, SASL over plain TCP.
    "local": {
        "host": "127.0.0.1:9092",
        "protocol": "kafka",
        "title": "Local stack (crm-stack)",
        "description": "The no-Docker stack of deploy/local: SASL_PLAINTEXT with SCRAM-SHA-512. "
        "`crm-stack env` prints the bootstrap address (its port may be moved with "
        "CRM_STACK_KAFKA_PORT) and the users' credentials.",
    },
    # deploy/compose/compose.yaml: services reach `kafka:9092`; the host reaches 29092.
    "compose": {
        "host": "kafka:9092",
        "protocol": "kafka",
        "title": "docker compose (inside its network)",
        "description": "deploy/compose: SASL_PLAINTEXT with SCRAM-SHA-512, as the services "
        "connect from inside the compose network.",
    },
    "composeFromHost": {
        "host": "localhost:29092",
        "protocol": "kafka",
        "title": "docker compose (from the host)",
        "description": "deploy/compose's listener for clients on the host: SASL_PLAINTEXT with "
        "SCRAM-SHA-512.",
    },
    # deploy/k8s/base/config/crm.env: Strimzi's bootstrap Service, its TLS listener.
    "k8s": {
        "host": "crm-kafka-kafka-bootstrap:9093",
        "protocol": "kafka-secure",
        "title": "Kubernetes (Strimzi cluster crm-kafka)",
        "description": "deploy/k8s: SASL_SSL with SCRAM-SHA-512 users managed by Strimzi; "
        "trust the cluster's CA (the services mount it at /etc/crm/kafka-ca/ca.crt).",
    },
}

CORRELATION_DESCRIPTION = (
    "The correlation id of the work that caused the event: the `X-Correlation-ID` of the HTTP "
    "request (or one made for a request that had none), kept by the background runs a request "
    "starts and carried on by consumers into the events they write. Always equal to the record's "
    f"`{KAFKA_CORRELATION_HEADER}` header. Null only in events written before every event "
    "carried one."
)

ENVELOPE_DESCRIPTION = (
    "Every record's value: a UTF-8 JSON object with exactly these fields. `event_type` and "
    "`schema_version` say which contract `payload` follows; `key` is also the record's Kafka "
    "key; `event_id` is unique per event (deduplicate on it); `causation_id` is the `event_id` "
    "of the event whose handling wrote this one. A consumer reads `event_type` first and skips "
    "types it does not know; a payload may carry fields added by a newer producer (only "
    "optional fields are ever added), which a reader ignores."
)


def asyncapi_document(spec: ServiceSpec, *, default_group: str) -> dict[str, Any]:
    """The service's AsyncAPI 3.0.0 document (plain JSON data)."""
    sent = sorted(spec.produces, key=lambda c: c.event_type)
    received: dict[tuple[str, str], list[type[ContractEvent]]] = {}
    for sub in spec.subscriptions:
        group = sub.group or default_group
        for topic in sub.topics:
            handled = [c for c in sub.handlers if c.topic == topic]
            bucket = received.setdefault((topic, group), [])
            bucket.extend(c for c in handled if c not in bucket)
    every = {c.event_type: c for c in [*sent, *(c for cs in received.values() for c in cs)]}
    classes = [every[name] for name in sorted(every)]

    schemas, refs = _schemas(classes)
    channels: dict[str, Any] = {}
    for cls in classes:
        channel = channels.setdefault(cls.topic, _channel(cls.topic, spec.name))
        channel["messages"][cls.event_type] = {"$ref": f"#/components/messages/{cls.event_type}"}
    operations: dict[str, Any] = {}
    for topic in sorted({c.topic for c in sent}):
        operations[f"send.{topic}"] = {
            "action": "send",
            "title": f"{spec.name} publishes on {topic}",
            "summary": f"The {spec.name} service's facts, from its transactional outbox.",
            "description": "Published with acks=all by an idempotent producer; at least once "
            "(a consumer deduplicates on `event_id`). One aggregate's events keep their order "
            "(same key, same partition).",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [_in_channel(topic, c) for c in sent if c.topic == topic],
        }
    for (topic, group), handled in sorted(received.items()):
        name = f"receive.{topic}" if group == default_group else f"receive.{topic}.{group}"
        summaries = [s.description for s in spec.subscriptions if topic in s.topics]
        operations[name] = {
            "action": "receive",
            "title": f"{spec.name} consumes {topic}",
            **({"summary": summaries[0]} if summaries and summaries[0] else {}),
            "description": "The types listed are handled; any other type on the topic is "
            "skipped. Idempotent (a marker per group and `event_id`), offsets committed after "
            f"the effect; after bounded retries a record goes to `{topic}.dlq.{group}`.",
            "channel": {"$ref": f"#/channels/{topic}"},
            "messages": [_in_channel(topic, c) for c in sorted(handled, key=_by_type)],
            "bindings": {
                "kafka": {
                    "groupId": {"type": "string", "enum": [group]},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": f"{spec.title} events",
            "version": spec.version,
            "description": (
                f"{spec.description}\n\nEvery record on these topics is a JSON envelope "
                "(`components/schemas/Envelope`) with the event in its `payload`; the record's "
                "key is the envelope's `key` and its `correlation_id` header equals the "
                "envelope's `correlation_id` (`components/messageTraits/kafkaRecord`)."
            ).strip(),
        },
        "defaultContentType": "application/json",
        "servers": {
            name: {**server, "security": [{"$ref": f"#/components/securitySchemes/{SECURITY}"}]}
            for name, server in SERVERS.items()
        },
        "channels": dict(sorted(channels.items())),
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": {c.event_type: _message(c, refs[c.event_type]) for c in classes},
            "messageTraits": {TRAIT: _trait()},
            "securitySchemes": {
                SECURITY: {
                    "type": "scramSha512",
                    "description": "SASL/SCRAM-SHA-512, one user per service (`crm-<service>`) "
                    "and `crm-backoffice` for back-office readers; ACLs let a service write "
                    "only its own topic and read the topics it consumes.",
                }
            },
        },
    }


def _by_type(cls: type[ContractEvent]) -> str:
    return cls.event_type


def _in_channel(topic: str, cls: type[ContractEvent]) -> dict[str, str]:
    return {"$ref": f"#/channels/{topic}/messages/{cls.event_type}"}


def _producer_of(topic: str) -> str:
    return topic.split(".")[1]


def _channel(topic: str, service: str) -> dict[str, Any]:
    owner = _producer_of(topic)
    if topic in INBOUND_TOPICS:
        about = (
            "The inbound topic back-office systems publish (Kafka user `crm-backoffice`, which "
            "may write it and no other): what became of a won proposal, keyed by its id."
        )
    else:
        whose = "this service's" if owner == service else f"the {owner} service's"
        about = f"The topic of {whose} events, keyed by aggregate id."
    return {
        "address": topic,
        "title": topic,
        "description": f"{about} The messages listed are the ones this document's service "
        "sends or reads there.",
        "messages": {},
        "bindings": {"kafka": {"partitions": PARTITIONS, "bindingVersion": KAFKA_BINDING}},
    }


def _schemas(
    classes: Sequence[type[ContractEvent]],
) -> tuple[dict[str, Any], dict[str, dict[str, str]]]:
    """The envelope and every payload schema, their shared parts as named schemas; and the
    reference to each event type's payload schema."""
    refs, shared = models_json_schema(
        [(cls, "validation") for cls in classes], ref_template=REF_SCHEMAS + "{model}"
    )
    schemas: dict[str, Any] = dict(shared.get("$defs", {}))
    envelope = Envelope.model_json_schema(ref_template=REF_SCHEMAS + "{model}")
    # The envelope's own parts (the actor) are named schemas beside the payloads'.
    schemas.update(envelope.pop("$defs", {}))
    envelope["description"] = ENVELOPE_DESCRIPTION
    envelope["properties"]["correlation_id"]["description"] = CORRELATION_DESCRIPTION
    schemas["Envelope"] = envelope
    by_type = {cls.event_type: dict(refs[(cls, "validation")]) for cls in classes}
    return dict(sorted(schemas.items())), by_type


def _doc(cls: type[ContractEvent]) -> str:
    return inspect.cleandoc(cls.__doc__ or cls.event_type)


def _summary(cls: type[ContractEvent]) -> str:
    return _doc(cls).split("\n\n")[0].replace("\n", " ")


def _key_field(cls: type[ContractEvent]) -> str | None:
    """The payload field the key is taken from, read off the contract's example."""
    example = _examples().get(cls.event_type)
    if example is None:
        return None
    key = example.aggregate_key()
    payload = example.model_dump(mode="json")
    return next((k for k, v in payload.items() if v == key), None)


def _message(cls: type[ContractEvent], payload_ref: dict[str, str]) -> dict[str, Any]:
    field = _key_field(cls)
    keyed = f"payload.{field}" if field else "the aggregate's id"
    message: dict[str, Any] = {
        "name": cls.event_type,
        "title": cls.event_type,
        "summary": _summary(cls),
        "description": f"{_doc(cls)}\n\nTopic `{cls.topic}`, schema version "
        f"{cls.schema_version}. Record key and envelope `key`: {keyed}.",
        "contentType": "application/json",
        "payload": {
            "allOf": [{"$ref": REF_SCHEMAS + "Envelope"}],
            "type": "object",
            "properties": {
                "event_type": {"const": cls.event_type},
                "schema_version": {"const": cls.schema_version},
                "payload": payload_ref,
            },
        },
        "traits": [{"$ref": f"#/components/messageTraits/{TRAIT}"}],
    }
    if field:
        message["x-key-field"] = field
    example = _examples().get(cls.event_type)
    if example is not None:
        message["examples"] = [_record_example(example)]
    return message


def _trait() -> dict[str, Any]:
    return {
        "name": TRAIT,
        "summary": "A record of a CRM topic: the key and headers every event has.",
        "headers": {
            "type": "object",
            "description": "Kafka record headers (UTF-8 text). Others may be present (a "
            "client library's own) and are to be ignored.",
            "properties": {
                KAFKA_CORRELATION_HEADER: {
                    "type": "string",
                    "description": "Equal to the envelope's `correlation_id` (the same value "
                    "in both places; the envelope is the one to trust when a copy of the value "
                    "travels without its headers).",
                }
            },
            "required": [KAFKA_CORRELATION_HEADER],
        },
        "correlationId": {
            "description": f"The `{KAFKA_CORRELATION_HEADER}` header, equal to "
            "`$message.payload#/correlation_id`.",
            "location": f"$message.header#/{KAFKA_CORRELATION_HEADER}",
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "UTF-8 text, equal to the envelope's `key`: the id of the "
                    "aggregate the fact is about, so that its facts stay in order on one "
                    "partition.",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


_EXAMPLES: dict[str, ContractEvent] = {}
EXAMPLE_AT = datetime(2026, 3, 2, 9, 30, 5, tzinfo=UTC)
EXAMPLE_CORRELATION_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def _examples() -> dict[str, ContractEvent]:
    if not _EXAMPLES:
        _EXAMPLES.update({e.event_type: e for e in example_events()})
    return _EXAMPLES


def _record_example(event: ContractEvent) -> dict[str, Any]:
    envelope = Envelope.wrap(
        event,
        producer=_producer_of(event.topic),
        correlation_id=EXAMPLE_CORRELATION_ID,
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"crm-example:{event.event_type}"),
        occurred_at=EXAMPLE_AT,
    )
    return {
        "name": f"{event.event_type}Example",
        "summary": "An example record: its headers and its value (the envelope).",
        "headers": {KAFKA_CORRELATION_HEADER: EXAMPLE_CORRELATION_ID},
        "payload": envelope.model_dump(mode="json"),
    }
