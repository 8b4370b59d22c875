"""The notify service's settings: channels, secrets, retry and rate limits."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

from crm_contracts.values import Channel, Language
from crm_kit.retention import Days, TtlRule
from crm_kit.settings import ServiceSettings
from pydantic import Field, model_validator

from crm_notify.domain import RetryPolicy
from crm_notify.repository import NOTIFICATIONS
from crm_notify.repository.notifications import SETTLED_AT

DEFAULT_GATEWAY_BODY = (
    '{"to": {{ to|tojson }}, "channel": {{ channel|tojson }}, "text": {{ text|tojson }}, '
    '"reference": {{ reference|tojson }}}'
)


class NotifySettings(ServiceSettings):
    service_name: ClassVar[str] = "notify"
    http_port: int = 8004

    channel_order: list[Channel] = Field(
        default=[Channel.EMAIL, Channel.MOBILE, Channel.PAGER, Channel.FAX]
    )
    """Fallback order after the preferred channel; a channel left out is never used."""
    default_language: Language = Language.RU

    # E-mail over SMTP.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_ca_file: Path | None = None
    """The CA certificates (PEM) that the SMTP server's certificate is checked against for
    "starttls" and "tls"; the system's CAs without one. The server's name is always checked."""
    smtp_username: str | None = None
    smtp_password: str = "dev-only-smtp-password"  # noqa: S105 - a development default
    smtp_timeout_s: float = 30.0
    smtp_pool_size: int = 4
    """SMTP connections kept open and reused; also the e-mail concurrency."""
    smtp_chunking: bool = True
    """Send each message with BDAT, in one write with its envelope, when the server offers
    CHUNKING and PIPELINING (RFC 3030: Postfix, Exim, Exchange do); False always uses DATA."""
    mail_from: str = "CRM <crm@localhost>"

    # SMS / mobile / pager through a generic HTTP gateway.
    gateway_url: str | None = "http://127.0.0.1:8025/messages"
    gateway_auth_header: str = "Authorization"
    gateway_auth_scheme: str = "Bearer"
    gateway_token: str = "dev-only-gateway-token"  # noqa: S105 - a development default
    gateway_body_template: str = DEFAULT_GATEWAY_BODY
    """Jinja2 (sandboxed) producing the JSON body; variables ``to``, ``channel``, ``text``,
    ``subject``, ``reference``, ``correlation_id`` (also sent as the ``X-Correlation-ID``
    header)."""
    gateway_timeout_s: float = 10.0
    gateway_concurrency: int = 4

    # Fax through an e-mail-to-fax gateway: ``{number}`` is the E.164 number without '+'.
    fax_email_pattern: str | None = "{number}@fax.localhost"

    # Delivery.
    rate_limits: dict[Channel, float] = Field(
        default={Channel.EMAIL: 50.0, Channel.MOBILE: 10.0, Channel.PAGER: 10.0, Channel.FAX: 1.0}
    )
    """Messages per second per channel, enforced in each process separately: with N notify
    processes the channel sees up to N times this (docs/decisions/0040)."""
    retry_max_attempts: int = 6
    retry_base_s: float = 30.0
    retry_factor: float = 2.0
    retry_cap_s: float = 3600.0
    unknown_recipient_max_attempts: int = 8
    """Attempts for a recipient notify's projection does not know (an employee or person never
    registered, or not registered yet): after these the notification fails."""
    unknown_recipient_retry_base_s: float = 60.0
    unknown_recipient_retry_cap_s: float = 6 * 3600.0
    """Back-off while waiting for an unknown recipient: ``base * retry_factor**(n-1)``, capped;
    with the defaults about 4 h 15 min from the first attempt to the failure."""
    lease_s: float = 120.0
    """How long a claimed notification stays with its worker before another may take it; a
    batch held up by a rate limit renews its leases before they run out."""
    worker_batch_size: int = 192
    """Due notifications claimed, sent and settled together: one bulk claim, one transaction
    per flush of outcomes. Also the most a crash can send twice (docs/performance.md, "Claiming
    while the last batch commits": 48 → 192 took the fan-out from ~800 to ~1,000 /s)."""
    worker_prefetch_batches: int = 8
    """Batches read with one due query (then claimed and sent one batch after the other), so a
    backlog costs one due read per eight batches. A prefetched candidate another worker took
    meanwhile loses its claim and is skipped."""
    worker_concurrency: int = 8
    """Sends in flight at once across channels; each channel has its own bound as well
    (``smtp_pool_size``, ``gateway_concurrency``)."""
    worker_poll_s: float = 0.5
    answer_base_url: str = "http://127.0.0.1:8002"
    """Where the public invitation answer page ``/i/{token}`` lives, when campaigns gave no
    full link."""

    # Unsubscribing from marketing messages (messages to a client's person).
    link_secret: str = "dev-only-notify-link-secret"  # noqa: S105 - a development default
    """Signs the unsubscribe links (as campaigns' ``link_secret`` signs its public links)."""
    public_base_url: str = "http://127.0.0.1:8004"
    """Where notify's public unsubscribe page ``/u/{token}`` is reachable from outside, e.g.
    https://mail.example.com: the base of the link and of the ``List-Unsubscribe`` header."""

    # Retention (docs/retention.md).
    notification_retention_days: Days = Field(default=365.0, ge=0)
    """How long a delivered or failed notification (the delivery log: recipient, address,
    rendered subject and text) is kept after its delivery or failure; a TTL index removes it.
    Notifications still waiting are never removed. 0 or empty: kept for ever. At least
    ``processed_marker_ttl_days``: once a request's marker is gone, the stored notification is
    what stops a redelivered request from sending the message twice."""

    @model_validator(mode="after")
    def _log_outlives_the_markers(self) -> NotifySettings:
        days = self.notification_retention_days
        if days and days < self.processed_marker_ttl_days:
            raise ValueError(
                f"notification_retention_days ({days}) must be 0 (for ever) or at least "
                f"processed_marker_ttl_days ({self.processed_marker_ttl_days}): a request "
                "redelivered after both are gone would be sent again"
            )
        return self

    def retention(self) -> list[TtlRule]:
        """The notifications' TTL index, on the date that settled each (delivered or failed)."""
        return [
            TtlRule(NOTIFICATIONS, SETTLED_AT, self.notification_retention_days, "settled_at_ttl")
        ]

    def secrets(self) -> dict[str, str]:
        return {
            "smtp_password": self.smtp_password,
            "gateway_token": self.gateway_token,
            "link_secret": self.link_secret,
        }

    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.retry_max_attempts,
            base_s=self.retry_base_s,
            factor=self.retry_factor,
            cap_s=self.retry_cap_s,
        )

    def unknown_recipient_policy(self) -> RetryPolicy:
        return RetryPolicy(
            max_attempts=self.unknown_recipient_max_attempts,
            base_s=self.unknown_recipient_retry_base_s,
            factor=self.retry_factor,
            cap_s=self.unknown_recipient_retry_cap_s,
        )

    def transport(self, channel: Channel) -> str:
        """Which transport carries ``channel``: ``smtp``, ``http-gateway``, ``email-to-fax``
        or ``none`` (voice calls have none)."""
        if channel is Channel.EMAIL and self.smtp_host:
            return "smtp"
        if channel is Channel.FAX and self.smtp_host and self.fax_email_pattern:
            return "email-to-fax"
        if channel in (Channel.MOBILE, Channel.PAGER, Channel.FAX) and self.gateway_url:
            return "http-gateway"
        return "none"

    def configured_channels(self) -> list[Channel]:
        """Channels in the fallback order that have a transport configured."""
        return [c for c in self.channel_order if self.transport(c) != "none"]
