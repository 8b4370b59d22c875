"""JSON logs carrying the correlation id of the request or event being handled.

The same context says what every event written meanwhile carries (``crm_kit.outbox``): the
correlation id of the HTTP request (``CorrelationMiddleware``), of the consumed event
(``IdempotentConsumer``) or of the background run that a request started; and, while a
consumed event is handled, its ``event_id`` as the causation id of the events it causes.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar

from crm_contracts.envelope import Actor
from pythonjsonlogger.json import JsonFormatter

correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)
actor: ContextVar[Actor | None] = ContextVar("actor", default=None)
"""Who is calling (set by ``crm_kit.auth.requires``; None outside an authenticated request)."""
CORRELATION_HEADER = "X-Correlation-ID"
"""The HTTP header (requests, responses, the gateway's calls) and the e-mail header."""
KAFKA_CORRELATION_HEADER = "correlation_id"
"""The Kafka record header: always equal to the envelope's ``correlation_id``."""


USABLE_CORRELATION_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
"""What a correlation id may be to travel in a header (HTTP, e-mail): up to 128 visible ASCII
characters of a token. A request's is checked on the way in; an event's (written by another
producer) is checked before it goes into a header."""


def header_safe(value: str | None) -> str | None:
    """``value`` if it may be sent as a header's value, else None."""
    return value if value and USABLE_CORRELATION_ID.match(value) else None


def current_actor() -> Actor | None:
    return actor.get()


def current_correlation_id() -> str | None:
    return correlation_id.get()


def current_causation_id() -> str | None:
    return causation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex


class _CorrelationFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        record.service = self.service
        return True


def configure_logging(service: str, level: str = "INFO", as_json: bool = True) -> None:
    """Send the root logger to stderr, one JSON object a line with service and correlation id."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_CorrelationFilter(service))
    fmt = "%(asctime)s %(levelname)s %(name)s %(service)s %(correlation_id)s %(message)s"
    if as_json:
        handler.setFormatter(
            JsonFormatter(
                fmt, rename_fields={"levelname": "level", "asctime": "time", "name": "logger"}
            )
        )
    else:
        handler.setFormatter(logging.Formatter(fmt))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_crm_handler", False):
            root.removeHandler(old)
    handler._crm_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiokafka is chatty at INFO about group rebalances; keep warnings.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
