"""How every Kafka client of the project connects: one place for the address and credentials,
and the access rules (ACLs) a service needs, derived from its code.

:func:`kafka_security` is the single function that turns settings into a client's security
options: FastStream's ``KafkaBroker`` takes its result as ``security=``, and every aiokafka client
(admin, consumer, producer) takes :func:`client_options`, FastStream's own translation of that
same object. Nothing else in the project builds SASL or TLS options by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from crm_contracts.topics import INBOUND_TOPICS, SERVICE_TOPICS, TOPICS, dead_letter_topic
from faststream.kafka.security import parse_security
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

if TYPE_CHECKING:
    from crm_kit.app import ServiceSpec
    from crm_kit.settings import ServiceSettings

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

ENV_PREFIX = "CRM_KAFKA_"
"""``CRM_KAFKA_BOOTSTRAP``, ``…_SECURITY_PROTOCOL``, ``…_SASL_MECHANISM``, ``…_USERNAME``,
``…_PASSWORD``, ``…_CA_FILE``: what ``crm-stack env`` exports and the services read."""


class KafkaAccessError(ValueError):
    """The Kafka settings do not make a usable connection (a SASL protocol with no user, say)."""


@dataclass(frozen=True)
class KafkaAccess:
    """Where the broker is and who we are to it."""

    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> KafkaAccess:
        return cls(
            bootstrap=settings.kafka_bootstrap,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_username,
            password=settings.kafka_password.get_secret_value(),
            ca_file=settings.kafka_ca_file,
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        bootstrap: str | None = None,
        prefixes: Iterable[str] = (ENV_PREFIX,),
    ) -> KafkaAccess:
        """The access the environment describes (``CRM_KAFKA_*``; earlier ``prefixes`` win).

        ``bootstrap`` overrides the address but keeps the environment's credentials: tests and
        tools are handed the address and connect with the stack's credentials.
        """
        env = os.environ if environ is None else environ
        order = tuple(prefixes)

        def get(name: str) -> str:
            for prefix in order:
                value = env.get(prefix + name, "").strip()
                if value:
                    return value
            return ""

        protocol = get("SECURITY_PROTOCOL") or (
            "SASL_PLAINTEXT" if get("USERNAME") else "PLAINTEXT"
        )
        mechanism = get("SASL_MECHANISM") or "SCRAM-SHA-512"
        if protocol not in get_args(SecurityProtocol):
            raise KafkaAccessError(
                f"{order[0]}SECURITY_PROTOCOL={protocol!r} is not one of "
                f"{', '.join(get_args(SecurityProtocol))}"
            )
        if mechanism not in get_args(SaslMechanism):
            raise KafkaAccessError(
                f"{order[0]}SASL_MECHANISM={mechanism!r} is not one of "
                f"{', '.join(get_args(SaslMechanism))}"
            )
        ca = get("CA_FILE")
        return cls(
            bootstrap=bootstrap or get("BOOTSTRAP") or "127.0.0.1:9092",
            security_protocol=protocol,  # type: ignore[arg-type]  # checked above
            sasl_mechanism=mechanism,  # type: ignore[arg-type]  # checked above
            username=get("USERNAME"),
            password=get("PASSWORD"),
            ca_file=Path(ca) if ca else None,
        )

    def env(self, prefix: str = ENV_PREFIX) -> dict[str, str]:
        """The variables that describe this access (the inverse of :meth:`from_env`)."""
        out = {
            f"{prefix}BOOTSTRAP": self.bootstrap,
            f"{prefix}SECURITY_PROTOCOL": self.security_protocol,
        }
        if self.uses_sasl:
            out[f"{prefix}SASL_MECHANISM"] = self.sasl_mechanism
            out[f"{prefix}USERNAME"] = self.username
            out[f"{prefix}PASSWORD"] = self.password
        if self.ca_file is not None:
            out[f"{prefix}CA_FILE"] = str(self.ca_file)
        return out


def kafka_security(access: KafkaAccess) -> BaseSecurity | None:
    """THE translation of an access into a client's security: SASL (SCRAM or PLAIN) and/or TLS
    (trusting ``ca_file``, or the system's CAs without one). None means PLAINTEXT."""
    ssl_context = None
    if access.uses_tls:
        import ssl

        ssl_context = ssl.create_default_context(
            cafile=str(access.ca_file) if access.ca_file else None
        )
    if not access.uses_sasl:
        return BaseSecurity(ssl_context=ssl_context, use_ssl=True) if access.uses_tls else None
    if not access.username or not access.password:
        raise KafkaAccessError(
            f"kafka_security_protocol={access.security_protocol} needs kafka_username and "
            "kafka_password"
        )
    kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
        "SCRAM-SHA-512": SASLScram512,
        "SCRAM-SHA-256": SASLScram256,
        "PLAIN": SASLPlaintext,
    }
    return kinds[access.sasl_mechanism](
        username=access.username,
        password=access.password,
        ssl_context=ssl_context,
        use_ssl=access.uses_tls,
    )


def client_options(access: KafkaAccess) -> dict[str, Any]:
    """Keyword arguments for any aiokafka client (``AIOKafkaAdminClient``, ``…Consumer``,
    ``…Producer``): the bootstrap address and the security of :func:`kafka_security`."""
    return {"bootstrap_servers": access.bootstrap, **parse_security(kafka_security(access))}


def broker_options(access: KafkaAccess) -> dict[str, Any]:
    """Keyword arguments for FastStream's ``KafkaBroker`` (address and ``security``)."""
    return {"bootstrap_servers": access.bootstrap, "security": kafka_security(access)}


# --- access rules -------------------------------------------------------------------------

ResourceType = Literal["TOPIC", "GROUP", "CLUSTER"]
PatternType = Literal["LITERAL", "PREFIXED"]
Operation = Literal["READ", "WRITE", "CREATE", "DESCRIBE", "DELETE", "ALTER"]


@dataclass(frozen=True, order=True)
class AclRule:
    """One ALLOW rule for one principal (``User:<name>``) on one resource."""

    principal: str
    resource_type: ResourceType
    pattern_type: PatternType
    name: str
    operation: Operation

    def line(self) -> str:
        return " ".join(
            (self.principal, self.resource_type, self.pattern_type, self.name, self.operation)
        )


_DEAD_LETTER_OPERATIONS: tuple[Operation, ...] = ("CREATE", "WRITE", "DESCRIBE")


def principal_of(service: str) -> str:
    """The Kafka user of a service (``crm-contacts``…): its name is its consumer group's."""
    return f"crm-{service}"


def service_groups(
    spec: ServiceSpec, default_group: str | None = None
) -> dict[str, tuple[str, ...]]:
    """The consumer groups of a service and the topics each reads."""
    default = default_group or principal_of(spec.name)
    groups: dict[str, tuple[str, ...]] = {}
    for sub in spec.subscriptions:
        group = sub.group or default
        groups[group] = tuple(dict.fromkeys((*groups.get(group, ()), *sub.topics)))
    return groups


def service_acls(spec: ServiceSpec, default_group: str | None = None) -> list[AclRule]:
    """What a service's principal may do, from its spec: WRITE the topics of the events it
    produces; READ the topics it subscribes to; READ its consumer groups; CREATE and WRITE the
    dead-letter topics of those groups (the kit creates them at start and the consumer publishes
    to them). Nothing else: no other topic, group, or cluster operation.

    The service owns the group names that start with its principal's name (``crm-contacts``,
    ``crm-contacts-reporting``…) and their dead-letter topics (``<topic>.dlq.crm-contacts…``),
    so a second group or a test's own group needs no new rule; a group named otherwise in its
    spec gets literal rules. No service's name is the beginning of another's.
    """
    user = principal_of(spec.name)
    rules: set[AclRule] = set()
    for topic in {event.topic for event in spec.produces}:
        rules.add(AclRule(user, "TOPIC", "LITERAL", topic, "WRITE"))
        rules.add(AclRule(user, "TOPIC", "LITERAL", topic, "DESCRIBE"))
    rules.add(AclRule(user, "GROUP", "PREFIXED", user, "READ"))
    for group, topics in service_groups(spec, default_group).items():
        own = group.startswith(user)
        if not own:
            rules.add(AclRule(user, "GROUP", "LITERAL", group, "READ"))
        for topic in topics:
            rules.add(AclRule(user, "TOPIC", "LITERAL", topic, "READ"))
            letters = dead_letter_topic(topic, user if own else group)
            for op in _DEAD_LETTER_OPERATIONS:
                rules.add(AclRule(user, "TOPIC", "PREFIXED" if own else "LITERAL", letters, op))
    return sorted(rules)


BACKOFFICE = "crm-backoffice"
"""The back office's Kafka user: reads every service topic, in groups named ``crm-backoffice…``,
and writes the inbound topic (``crm.backoffice.v1``: contracts, orders, payments) and no other."""

REPLAY_GROUP_PREFIX = "crm-ops-replay"
"""The ops CLI replays dead letters in consumer groups ``crm-ops-replay.<dead-letter topic>``."""

OPERATOR = "crm-ops"
"""The ``crm`` ops CLI's Kafka user: inspects every topic and group, replays dead letters back
to a service topic (in groups ``crm-ops-replay…``). It may neither create nor delete topics
nor touch users and ACLs: only the stack's admin may."""


def backoffice_acls(principal: str = BACKOFFICE) -> list[AclRule]:
    rules = {AclRule(principal, "TOPIC", "LITERAL", t, "READ") for t in SERVICE_TOPICS}
    rules.add(AclRule(principal, "GROUP", "PREFIXED", principal, "READ"))
    for topic in INBOUND_TOPICS:
        rules.add(AclRule(principal, "TOPIC", "LITERAL", topic, "WRITE"))
        rules.add(AclRule(principal, "TOPIC", "LITERAL", topic, "DESCRIBE"))
    return sorted(rules)


def operator_acls(principal: str = OPERATOR) -> list[AclRule]:
    rules = {
        AclRule(principal, "TOPIC", "LITERAL", "*", "READ"),
        AclRule(principal, "TOPIC", "LITERAL", "*", "DESCRIBE"),
        AclRule(principal, "GROUP", "LITERAL", "*", "DESCRIBE"),
        AclRule(principal, "GROUP", "PREFIXED", REPLAY_GROUP_PREFIX, "READ"),
    }
    rules |= {AclRule(principal, "TOPIC", "LITERAL", t, "WRITE") for t in TOPICS}
    return sorted(rules)


def stack_acls(specs: Iterable[ServiceSpec]) -> list[AclRule]:
    """Every rule of a deployment: each service's, the back office's and the operator's."""
    rules: set[AclRule] = set(backoffice_acls()) | set(operator_acls())
    for spec in specs:
        rules |= set(service_acls(spec))
    return sorted(rules)


__all__ = [
    "BACKOFFICE",
    "OPERATOR",
    "REPLAY_GROUP_PREFIX",
    "AclRule",
    "KafkaAccess",
    "KafkaAccessError",
    "backoffice_acls",
    "broker_options",
    "client_options",
    "kafka_security",
    "operator_acls",
    "principal_of",
    "service_acls",
    "service_groups",
    "stack_acls",
]
