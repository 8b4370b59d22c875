"""The local broker's users and ACLs: SASL/SCRAM-SHA-512 on loopback, one user per service, a
read-only back-office user, an operator user for the `crm` CLI, and the stack's admin as the
only super user. See docs/decisions/0007-kafka-security.md.

Passwords are made once per stack (``secrets``), kept in ``<state>/keys/kafka-users.json``
(0600), and stay the same across restarts. The ACLs are not a list kept by hand: they come from
the services' own specs (what each produces and subscribes to) through
``crm_kit.kafka.stack_acls``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from crm_kit.kafka import BACKOFFICE, OPERATOR, KafkaAccess, principal_of, stack_acls

from crm_stack.config import HOST, PACKAGE_ROOT, StackConfig
from crm_stack.errors import StackError

if TYPE_CHECKING:
    from crm_kit.app import ServiceSpec

ADMIN = "crm-stack-admin"
"""The stack's admin: the only super user (creates topics, users and ACLs; tests use it)."""

SERVICES: tuple[str, ...] = ("contacts", "campaigns", "proposals", "notify")
"""The services whose specs give the ACLs (each ``crm_<name>.app.SPEC``)."""

DEV_PASSWORD_PREFIX = "dev-only-"  # noqa: S105 - a marker the services refuse in production
TOOL_SOURCE = PACKAGE_ROOT / "kafka" / "StackSecurity.java"
MECHANISM: Final = "SCRAM-SHA-512"


def principals() -> list[str]:
    """Every Kafka user of the stack, the admin first."""
    return [ADMIN, *(principal_of(s) for s in SERVICES), BACKOFFICE, OPERATOR]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def ensure_passwords(cfg: StackConfig) -> dict[str, str]:
    """The stack's passwords by user; made once (``dev-only-`` + 32 random bytes, URL-safe) and
    kept. A user added to the stack later gets a password; existing ones never change."""
    path = cfg.kafka_users_file
    known: dict[str, str] = {}
    if path.exists():
        try:
            known = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
        except (ValueError, AttributeError) as exc:
            raise StackError(f"{path} is not a JSON object of user: password ({exc})") from None
    missing = [p for p in principals() if p not in known]
    for name in missing:
        known[name] = DEV_PASSWORD_PREFIX + secrets.token_urlsafe(32)
    if missing or (path.stat().st_mode & 0o077):
        write_private(path, json.dumps(known, indent=2, sort_keys=True) + "\n")
    return known


def client_env(cfg: StackConfig) -> dict[str, str]:
    """What ``crm-stack env`` exports: the stack's endpoints and keys, the admin's broker
    credentials as ``CRM_KAFKA_*`` (tests and scripts use them) and the operator's as
    ``CRM_OPS_KAFKA_*`` (the ``crm`` CLI prefers them)."""
    env = cfg.client_env()
    env.update(admin_access(cfg).env())
    operator = access_of(cfg, OPERATOR)
    env["CRM_OPS_KAFKA_USERNAME"] = operator.username
    env["CRM_OPS_KAFKA_PASSWORD"] = operator.password
    return env


def service_env(cfg: StackConfig, service: str) -> dict[str, str]:
    """A service's own broker credentials (``CRM_<SERVICE>_KAFKA_*``, read before the shared
    ``CRM_KAFKA_*``): crm-stack starts each service as its own Kafka user."""
    access = access_of(cfg, principal_of(service))
    prefix = f"CRM_{service.upper()}_KAFKA_"
    return access.env(prefix)


def access_of(cfg: StackConfig, user: str) -> KafkaAccess:
    """How ``user`` connects to this stack's broker."""
    return KafkaAccess(
        bootstrap=cfg.kafka_bootstrap,
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=MECHANISM,
        username=user,
        password=ensure_passwords(cfg)[user],
    )


def admin_access(cfg: StackConfig) -> KafkaAccess:
    return access_of(cfg, ADMIN)


def service_specs() -> list[ServiceSpec]:
    """The services' specs, imported from their packages (installed in this environment, as
    the console scripts crm-stack starts them with)."""
    return [importlib.import_module(f"crm_{name}.app").SPEC for name in SERVICES]


def wanted_lines(cfg: StackConfig) -> list[str]:
    """What StackSecurity.java makes true: every user's SCRAM credential and every ACL."""
    passwords = ensure_passwords(cfg)
    users = [f"user {name} {passwords[name]}" for name in principals()]
    return users + [f"acl {rule.line()}" for rule in stack_acls(service_specs())]


def _jaas(module: str, user: str, password: str, *, serve: bool = False) -> str:
    extra = f' user_{user}="{password}"' if serve else ""
    return f'{module} required username="{user}" password="{password}"{extra};'


def server_settings(cfg: StackConfig) -> list[tuple[str, str | int]]:
    """The broker's security settings (listeners, SASL, authorizer).

    Clients use the BROKER listener with SCRAM-SHA-512. PLAIN is accepted there too, for the
    admin alone (its password is the only one the static JAAS entry knows): that is how
    StackSecurity.java creates the SCRAM users on a data dir that has none yet (one an older
    crm-stack formatted; Kafka's admin API refuses SCRAM changes sent to the controller). The
    controller listener takes PLAIN with the admin's password only (the controller serves the
    SCRAM credentials from its metadata log, so it cannot authenticate with them itself), so
    no one but the broker and the admin can speak to the controller.
    """
    password = ensure_passwords(cfg)[ADMIN]
    ctl = f"{HOST}:{cfg.controller_port}"
    broker = f"{HOST}:{cfg.kafka_port}"
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule"
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return [
        ("listeners", f"BROKER://{broker},CONTROLLER://{ctl}"),
        ("advertised.listeners", f"BROKER://{broker},CONTROLLER://{ctl}"),
        ("controller.listener.names", "CONTROLLER"),
        ("inter.broker.listener.name", "BROKER"),
        ("listener.security.protocol.map", "BROKER:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT"),
        ("sasl.enabled.mechanisms", MECHANISM),
        ("sasl.mechanism.inter.broker.protocol", MECHANISM),
        ("sasl.mechanism.controller.protocol", "PLAIN"),
        ("listener.name.broker.sasl.enabled.mechanisms", f"{MECHANISM},PLAIN"),
        ("listener.name.broker.scram-sha-512.sasl.jaas.config", _jaas(scram, ADMIN, password)),
        ("listener.name.broker.plain.sasl.jaas.config", _jaas(plain, ADMIN, password, serve=True)),
        ("listener.name.controller.sasl.enabled.mechanisms", "PLAIN"),
        (
            "listener.name.controller.plain.sasl.jaas.config",
            _jaas(plain, ADMIN, password, serve=True),
        ),
        ("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer"),
        ("allow.everyone.if.no.acl.found", "false"),
        ("super.users", f"User:{ADMIN}"),
    ]


def _admin_client_properties(cfg: StackConfig) -> str:
    password = ensure_passwords(cfg)[ADMIN]
    plain = "org.apache.kafka.common.security.plain.PlainLoginModule"
    return (
        "\n".join(
            [
                f"bootstrap.servers={HOST}:{cfg.kafka_port}",
                "security.protocol=SASL_PLAINTEXT",
                "sasl.mechanism=PLAIN",
                f"sasl.jaas.config={_jaas(plain, ADMIN, password)}",
                "request.timeout.ms=30000",
                "default.api.timeout.ms=120000",
            ]
        )
        + "\n"
    )


def _cluster_id(cfg: StackConfig) -> str:
    meta = cfg.kafka_data_dir / "meta.properties"
    for line in meta.read_text().splitlines() if meta.exists() else []:
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1].strip()
    return ""


def apply(
    cfg: StackConfig, java: str, libs: Path, say: Callable[[str], None], *, force: bool = False
) -> bool:
    """Make the broker's users and ACLs the wanted ones; True if the tool ran.

    Skipped when the same wanted state was already applied to this cluster (a digest of it and
    of the cluster id is kept in ``<state>/kafka/security.applied``)."""
    lines = wanted_lines(cfg)
    digest = hashlib.sha256(("\n".join(lines) + _cluster_id(cfg)).encode()).hexdigest()
    marker = cfg.kafka_dir / "security.applied"
    if not force and marker.exists() and marker.read_text().strip() == digest:
        return False
    props = cfg.kafka_dir / "admin-client.properties"
    wanted = cfg.kafka_dir / "security-wanted.txt"
    write_private(props, _admin_client_properties(cfg))
    write_private(wanted, "\n".join(lines) + "\n")
    argv = [
        java,
        "-Xmx256m",
        f"-Dlog4j2.configurationFile={PACKAGE_ROOT / 'kafka' / 'log4j2.properties'}",
        f"-Dkafka.logs.dir={cfg.logs_dir.resolve()}",
        "-cp",
        f"{libs}/*",
        str(TOOL_SOURCE),
        str(props),
        str(wanted),
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
    finally:
        wanted.unlink(missing_ok=True)
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()
        raise StackError(
            f"setting the Kafka users and ACLs failed (exit {proc.returncode})", out[-15:]
        )
    marker.write_text(digest + "\n")
    say("kafka users and ACLs: " + (proc.stdout.strip().splitlines() or ["done"])[-1])
    return True
