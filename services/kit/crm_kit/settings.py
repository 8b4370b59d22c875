"""Service settings from the environment.

Each service reads ``CRM_<SERVICE>_<FIELD>`` first and falls back to ``CRM_<FIELD>``, so a
stack-wide value (the broker address, say) is set once and any service can override it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from crm_kit.records import DEFAULT_EVENT_MAX_BYTES, KAFKA_DEFAULT_MAX_MESSAGE_BYTES
from crm_kit.retention import Days

DEV_KEY_MARKER = "DEVELOPMENT-ONLY"
"""A file of this name beside a key marks the key as generated for local development."""

DEV_SECRET_PREFIX = "dev-only-"  # noqa: S105 - a marker, not a secret
"""Secrets with this prefix are development defaults; production refuses them."""


class InsecureProductionSettings(ValueError):
    """Production was started with a development key or secret."""


class ServiceSettings(BaseSettings):
    """What every service needs; a service subclasses it and sets ``service_name``."""

    service_name: ClassVar[str] = "service"
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    http_keep_alive_s: int = Field(default=65, ge=1)
    """Seconds an idle HTTP connection is kept open (uvicorn's default is 5). Longer than the
    idle expiry of the callers' connection pools (httpx: 5 s) and of a load balancer in front
    (commonly 60 s), so the caller, not the service, closes an idle connection: when both gave
    up at 5 s, a caller could send on a connection the service was closing that instant and get
    a read error (a POST is not retried). Seen in the end-to-end test."""
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    mongo_database: str = ""
    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    """How the service talks to the broker: ``SASL_PLAINTEXT`` on the local stack's loopback,
    ``SASL_SSL`` in k8s (``kafka_ca_file`` then names the cluster CA). Every client of the
    service connects through :func:`crm_kit.kafka.kafka_security`."""
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = "SCRAM-SHA-512"
    kafka_username: str = ""
    """The service's own Kafka user (``crm-<service>``); its ACLs say what it may read and write."""
    kafka_password: SecretStr = SecretStr("")
    kafka_password_file: Path | None = None
    """A file holding the password (a mounted secret); read at start when no password is set."""
    kafka_ca_file: Path | None = None
    consumer_group: str = ""
    consumer_start_at_end: bool = False
    """A consumer group with no committed offsets starts at the topics' end instead of their
    beginning (tests on a long-lived stack; a new reporting replica that needs no history)."""
    consumer_max_attempts: int = 3
    consumer_retry_backoff_ms: int = 200
    relay_batch_size: int = Field(default=500, ge=1)
    relay_lease_s: float = Field(default=10.0, gt=0)
    """How long the outbox relay's lease lasts unrenewed: one relay per database publishes,
    and when its process dies another (or the restarted one) takes over after at most this."""
    processed_marker_ttl_days: float = Field(default=30.0, gt=0)
    """How long a consumer's processed-event markers are kept (a TTL index removes them). A
    redelivery later than this is caught by the handlers' own idempotence (upsert by a
    natural id, version guards), as a replay of a whole topic is."""
    failed_outbox_retention_days: Days = Field(default=180.0, ge=0)
    """How long an event the broker refused for good stays in ``outbox_failed`` for an
    operator (it holds the whole event, personal data included); 0 or empty: for ever.
    docs/retention.md lists this and every other retention rule."""
    audit_retention_days: Days = Field(default=None, ge=0)
    """How long the audit trail's entries (who changed what, when) are kept; empty or 0: for
    ever, the default, as an audit trail is usually kept as long as the data it explains."""
    jwt_public_key_file: Path | None = None
    jwt_issuer: str = "crm-local"
    jwt_audience: str = "crm"
    oidc_issuer: str | None = None
    """The OpenID Connect provider whose tokens are accepted (its keys come from its JWKS),
    e.g. ``https://id.example.com/realms/crm``; beside or instead of ``jwt_public_key_file``."""
    oidc_discovery_url: str | None = None
    """Where this service reads the provider's discovery document and keys when the issuer's
    public address cannot be reached from where it runs (``CRM_OIDC_DISCOVERY_URL``): compose's
    ``http://keycloak:8080/realms/crm`` while browsers and tokens say
    ``http://localhost:8180/realms/crm``. The realm's base or the document's full URL; the
    document must still name ``oidc_issuer`` (see ``crm_kit.oidc``). Unset or empty: the
    issuer's own address."""
    max_request_body_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    """Request bodies larger than this are refused with 413 problem+json before a route runs
    (declared ``Content-Length`` or counted while streaming); 4 MiB unless set."""
    cursor_secret: str = "dev-only-cursor-secret"  # noqa: S105 - a development default
    """Signs the list cursors this service issues (``crm_kit.cursors``), so a caller cannot
    forge one; ``CRM_<SERVICE>_CURSOR_SECRET``. Changing it only invalidates cursors in use."""
    log_level: str = "INFO"
    log_json: bool = True
    gc_young_threshold: int = Field(default=20_000, ge=0)
    """Allocations between two young-generation collections in a served process (Python's
    default is 700); 0 keeps Python's settings and skips freezing the start-up heap. See
    ``crm_kit.app.serve``."""

    key_vault_uri: str = ""
    """The key vault's MongoDB (``crm_kit.sealing``): the data keys that seal personal fields
    in events, shared by every service as a KMS would be. Empty: the service's ``mongo_uri``."""
    key_vault_database: str = "crm_keyvault"
    key_vault_master_key: SecretStr = SecretStr("dev-only-key-vault-master-key")
    """The key-encryption secret every data key in the vault is wrapped under."""

    kafka_max_message_bytes: int = Field(default=KAFKA_DEFAULT_MAX_MESSAGE_BYTES, ge=65_536)
    """The largest record the broker takes (its topics' ``max.message.bytes``; Kafka's default
    is 1 MiB). The producer refuses anything larger before sending it."""
    kafka_batch_bytes: int = Field(default=262_144, ge=1024)
    """The producer's batch of records for one partition (aiokafka's ``max_batch_size``, whose
    default is 16 KiB): what goes to the broker in one piece of a produce request. Never more
    than ``kafka_max_message_bytes`` (a batch is one message to the broker's size limit). The
    fan-out bench chose 256 KiB: the broker's CPU per invitation 0.13-0.18 -> 0.08-0.10 ms
    (docs/performance.md)."""
    kafka_linger_ms: int = Field(default=0, ge=0, le=1000)
    """How long the producer waits for more records before sending a batch that is not full
    (none by default: while one request is out, the next batch fills by itself)."""
    event_max_bytes: int = Field(default=DEFAULT_EVENT_MAX_BYTES, ge=1024)
    """The largest event (encoded envelope plus key) a write may add to the outbox; a write
    whose event is larger is refused with 413 and stores nothing. Also the largest record a
    consumer handles: a larger one is dead-lettered unparsed, its body cut to a preview.
    Default: 1 MiB less 64 KiB for key, headers and framing. Keep it that far under
    ``kafka_max_message_bytes``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        own = EnvSettingsSource(settings_cls, env_prefix=f"CRM_{cls.service_name.upper()}_")
        shared = EnvSettingsSource(settings_cls, env_prefix="CRM_")
        return (init_settings, own, shared)

    @model_validator(mode="after")
    def _defaults_and_production_guard(self) -> ServiceSettings:
        if not self.mongo_database:
            object.__setattr__(self, "mongo_database", f"crm_{self.service_name}")
        if not self.consumer_group:
            object.__setattr__(self, "consumer_group", f"crm-{self.service_name}")
        if not self.oidc_discovery_url:
            object.__setattr__(self, "oidc_discovery_url", None)
        elif not self.oidc_issuer:
            raise ValueError("oidc_discovery_url is set without the oidc_issuer it reaches")
        elif not self.oidc_discovery_url.startswith(("https://", "http://")):
            raise ValueError(
                f"oidc_discovery_url must be an http(s) address, not {self.oidc_discovery_url!r}"
            )
        if self.kafka_password_file is not None and not self.kafka_password.get_secret_value():
            password = self.kafka_password_file.read_text().strip()
            object.__setattr__(self, "kafka_password", SecretStr(password))
        if self.environment == "production":
            self._refuse_development_material()
        return self

    @model_validator(mode="after")
    def _events_fit_the_broker(self) -> ServiceSettings:
        room = self.kafka_max_message_bytes - self.event_max_bytes
        if room < 32 * 1024:
            raise ValueError(
                f"event_max_bytes ({self.event_max_bytes}) must stay at least 32 KiB under "
                f"kafka_max_message_bytes ({self.kafka_max_message_bytes}): key, headers, framing"
            )
        return self

    def _refuse_development_material(self) -> None:
        key = self.jwt_public_key_file
        if key is None and not self.oidc_issuer:
            raise InsecureProductionSettings("production needs oidc_issuer or jwt_public_key_file")
        if self.oidc_issuer and not self.oidc_issuer.startswith("https://"):
            raise InsecureProductionSettings(
                f"production reads the provider's keys over https only, not {self.oidc_issuer}"
            )
        if self.oidc_discovery_url and not self.oidc_discovery_url.startswith("https://"):
            raise InsecureProductionSettings(
                "production reads the provider's keys over https only, not "
                f"{self.oidc_discovery_url} (oidc_discovery_url)"
            )
        if key is not None and (key.parent / DEV_KEY_MARKER).exists():
            raise InsecureProductionSettings(
                f"production refuses the development key {key} (marked {DEV_KEY_MARKER})"
            )
        secrets = {
            **self.secrets(),
            "cursor_secret": self.cursor_secret,
            "kafka_password": self.kafka_password.get_secret_value(),
            "key_vault_master_key": self.key_vault_master_key.get_secret_value(),
        }
        for name, value in secrets.items():
            if value.startswith(DEV_SECRET_PREFIX):
                raise InsecureProductionSettings(
                    f"production refuses the development value of {name}"
                )
        if self.kafka_security_protocol in ("PLAINTEXT", "SSL"):
            raise InsecureProductionSettings(
                "production needs an authenticated broker connection: kafka_security_protocol "
                f"is {self.kafka_security_protocol} (SASL_SSL or SASL_PLAINTEXT expected)"
            )
        if not self.kafka_username or not self.kafka_password.get_secret_value():
            raise InsecureProductionSettings("production needs kafka_username and kafka_password")

    def secrets(self) -> dict[str, str]:
        """Secret fields a service adds; production checks none keeps its dev default."""
        return {}

    def describe(self) -> dict[str, Any]:
        return {"service": self.service_name, "environment": self.environment}
