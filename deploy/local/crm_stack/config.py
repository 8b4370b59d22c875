"""Where the local stack keeps its things, and which ports it uses (all overridable by env)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from crm_stack.errors import StackError

#: deploy/local/ (this package lives in deploy/local/crm_stack/).
PACKAGE_ROOT = Path(__file__).resolve().parent.parent
#: The repository root (deploy/local/../..).
REPO_ROOT = PACKAGE_ROOT.parent.parent

KAFKA_POM = PACKAGE_ROOT / "kafka" / "pom.xml"
KAFKA_LOG4J2 = PACKAGE_ROOT / "kafka" / "log4j2.properties"
KEYCLOAK_REALM_FILE = PACKAGE_ROOT / "keycloak" / "crm-realm.json"

DEFAULT_KAFKA_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_MONGO_PORT = 27017
DEFAULT_KEYCLOAK_PORT = 8180
DEFAULT_KEYCLOAK_TIMEOUT = 600.0
"""The provider's first start builds its server (35 s on an idle machine, two minutes on a busy
one, over five when other stacks load both cores); later starts take 8 to 30 s."""
DEFAULT_KEYCLOAK_HEAP = "-Xms64m -Xmx512m"
KEYCLOAK_REALM = "crm"
DEFAULT_KAFKA_TIMEOUT = 120.0
DEFAULT_MONGO_TIMEOUT = 60.0
DEFAULT_KAFKA_HEAP = "-Xms512m -Xmx768m"
DEFAULT_MONGO_CACHE_GB = "1"
"""mongod's WiredTiger cache (``--wiredTigerCacheSizeGB``; its own default is half the memory
less 1 GB, ~11 GB here). The store's memory stays near this plus a few hundred MB."""
DEFAULT_MONGO_OPLOG_MB = 1024
"""The oplog (``--oplogSize``): how far back a change stream can resume. A 100,000-invitation
fan-out writes about 0.5 GB of it."""
REPLICA_SET = "rs0"

JWT_ISSUER = "crm-local"
JWT_AUDIENCE = "crm"

HOST = "127.0.0.1"


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise StackError(f"{name}={port} is outside 1..65535")
    return port


def _env_number(name: str, unit: str, low: float, high: float) -> float | None:
    """The number in ``name``, checked to lie in ``(low, high]``; None when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a number of {unit}") from None
    if not low < value <= high:
        raise StackError(f"{name}={raw!r} must be more than {low:g} and at most {high:g} {unit}")
    return value


def _env_seconds(name: str, default: float) -> float:
    value = _env_number(name, "seconds", 0, float("inf"))
    return default if value is None else value


def _env_gigabytes(name: str, default: str) -> str:
    value = _env_number(name, "gigabytes", 0.2, 64)
    return default if value is None else f"{value:g}"


def kafka_version() -> str:
    """The Kafka version pinned in deploy/local/kafka/pom.xml (``<kafka.version>``)."""
    match = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", KAFKA_POM.read_text())
    if match is None:
        raise StackError(f"{KAFKA_POM} has no <kafka.version> property")
    return match.group(1)


@dataclass(frozen=True)
class StackConfig:
    """Everything `crm-stack` needs to know; build it with :meth:`from_env`."""

    state_dir: Path
    cache_dir: Path
    kafka_port: int = DEFAULT_KAFKA_PORT
    controller_port: int = DEFAULT_CONTROLLER_PORT
    mongo_port: int = DEFAULT_MONGO_PORT
    kafka_timeout: float = DEFAULT_KAFKA_TIMEOUT
    mongo_timeout: float = DEFAULT_MONGO_TIMEOUT
    kafka_heap: str = DEFAULT_KAFKA_HEAP
    mongo_cache_gb: str = DEFAULT_MONGO_CACHE_GB
    mongo_oplog_mb: int = DEFAULT_MONGO_OPLOG_MB
    keycloak_port: int = DEFAULT_KEYCLOAK_PORT
    keycloak_timeout: float = DEFAULT_KEYCLOAK_TIMEOUT
    keycloak_heap: str = DEFAULT_KEYCLOAK_HEAP

    @classmethod
    def from_env(cls) -> StackConfig:
        state = os.environ.get("CRM_STACK_DIR", "").strip()
        cache = os.environ.get("CRM_STACK_CACHE", "").strip()
        cfg = cls(
            state_dir=Path(state).expanduser().resolve() if state else REPO_ROOT / ".stack",
            cache_dir=(
                Path(cache).expanduser().resolve()
                if cache
                else Path.home() / ".cache" / "crm-stack"
            ),
            kafka_port=_env_port("CRM_STACK_KAFKA_PORT", DEFAULT_KAFKA_PORT),
            controller_port=_env_port("CRM_STACK_CONTROLLER_PORT", DEFAULT_CONTROLLER_PORT),
            mongo_port=_env_port("CRM_STACK_MONGO_PORT", DEFAULT_MONGO_PORT),
            kafka_timeout=_env_seconds("CRM_STACK_KAFKA_TIMEOUT", DEFAULT_KAFKA_TIMEOUT),
            mongo_timeout=_env_seconds("CRM_STACK_MONGO_TIMEOUT", DEFAULT_MONGO_TIMEOUT),
            kafka_heap=os.environ.get("CRM_STACK_KAFKA_HEAP", "").strip() or DEFAULT_KAFKA_HEAP,
            mongo_cache_gb=_env_gigabytes("CRM_STACK_MONGO_CACHE_GB", DEFAULT_MONGO_CACHE_GB),
            keycloak_port=_env_port("CRM_STACK_KEYCLOAK_PORT", DEFAULT_KEYCLOAK_PORT),
            keycloak_timeout=_env_seconds("CRM_STACK_KEYCLOAK_TIMEOUT", DEFAULT_KEYCLOAK_TIMEOUT),
            keycloak_heap=os.environ.get("CRM_STACK_KEYCLOAK_HEAP", "").strip()
            or DEFAULT_KEYCLOAK_HEAP,
        )
        ports = [cfg.kafka_port, cfg.controller_port, cfg.mongo_port, cfg.keycloak_port]
        if len(set(ports)) != len(ports):
            raise StackError(
                f"ports must differ: kafka {cfg.kafka_port}, controller {cfg.controller_port}, "
                f"mongo {cfg.mongo_port}, keycloak {cfg.keycloak_port}"
            )
        return cfg

    # --- state dir layout -------------------------------------------------------------------

    @property
    def marker_file(self) -> Path:
        """Proves the state dir was made by crm-stack (``down --purge`` deletes only such dirs)."""
        return self.state_dir / ".crm-stack"

    @property
    def lock_file(self) -> Path:
        return self.state_dir / ".lock"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def keys_dir(self) -> Path:
        return self.state_dir / "keys"

    @property
    def jwt_private_key(self) -> Path:
        return self.keys_dir / "jwt-private.pem"

    @property
    def jwt_public_key(self) -> Path:
        return self.keys_dir / "jwt-public.pem"

    @property
    def kafka_users_file(self) -> Path:
        """The broker users' passwords (JSON, 0600), made once per stack and kept."""
        return self.keys_dir / "kafka-users.json"

    @property
    def kafka_dir(self) -> Path:
        return self.state_dir / "kafka"

    @property
    def kafka_data_dir(self) -> Path:
        return self.kafka_dir / "data"

    @property
    def server_properties(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def cluster_id_file(self) -> Path:
        return self.kafka_dir / "cluster-id"

    @property
    def kafka_pid_file(self) -> Path:
        return self.state_dir / "kafka.pid"

    @property
    def kafka_log(self) -> Path:
        """The broker's own log (log4j2)."""
        return self.logs_dir / "kafka-server.log"

    @property
    def kafka_console_log(self) -> Path:
        """The broker JVM's stdout/stderr (JVM errors land here, not in the log4j2 file)."""
        return self.logs_dir / "kafka.out"

    @property
    def mongo_data_dir(self) -> Path:
        return self.state_dir / "mongo" / "data"

    @property
    def mongo_pid_file(self) -> Path:
        return self.state_dir / "mongod.pid"

    @property
    def mongo_log(self) -> Path:
        return self.logs_dir / "mongod.log"

    @property
    def keycloak_dir(self) -> Path:
        return self.state_dir / "keycloak"

    @property
    def keycloak_pid_file(self) -> Path:
        return self.state_dir / "keycloak.pid"

    @property
    def keycloak_log(self) -> Path:
        return self.logs_dir / "keycloak.log"

    # --- cache layout -----------------------------------------------------------------------

    def kafka_home(self, version: str) -> Path:
        return self.cache_dir / f"kafka-{version}"

    # --- what clients use -------------------------------------------------------------------

    @property
    def kafka_bootstrap(self) -> str:
        return f"{HOST}:{self.kafka_port}"

    @property
    def mongo_uri(self) -> str:
        return f"mongodb://{HOST}:{self.mongo_port}/?replicaSet={REPLICA_SET}"

    @property
    def keycloak_url(self) -> str:
        return f"http://{HOST}:{self.keycloak_port}"

    @property
    def oidc_issuer(self) -> str:
        """The issuer of the provider's tokens (the ``iss`` claim), for the CRM realm."""
        return f"{self.keycloak_url}/realms/{KEYCLOAK_REALM}"

    def whereabouts(self) -> dict[str, Path]:
        """Where this stack keeps what a person looks for: its state, the mail and messages
        notify sent (the local catcher and gateway sink), the development token key."""
        return {
            "state": self.state_dir,
            "mail": self.state_dir / "mail",
            "sms/pager": self.state_dir / "gateway.jsonl",
            "token key": self.jwt_private_key,
            "logs": self.logs_dir,
        }

    def client_env(self) -> dict[str, str]:
        """The variables services and tests read to find this stack (the broker's credentials
        are added by ``crm_stack.security.client_env``)."""
        return {
            "CRM_MONGO_URI": self.mongo_uri,
            "CRM_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
            "CRM_JWT_PUBLIC_KEY_FILE": str(self.jwt_public_key),
            "CRM_JWT_PRIVATE_KEY_FILE": str(self.jwt_private_key),
            "CRM_JWT_ISSUER": JWT_ISSUER,
            "CRM_JWT_AUDIENCE": JWT_AUDIENCE,
            "CRM_OIDC_ISSUER": self.oidc_issuer,
        }
