"""Prometheus metrics every service exposes at ``/metrics``.

Metrics are process-wide and labelled by service, so several apps in one process (tests)
share the collectors instead of registering them twice.
"""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, Counter, Gauge, Histogram, generate_latest
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["service", "method", "route", "status"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_PUBLISHED = Counter(
    "crm_events_published_total", "Events the outbox relay published", ["service", "topic"]
)
EVENTS_CONSUMED = Counter(
    "crm_events_consumed_total",
    "Events a consumer group finished with, by outcome",
    ["service", "group", "outcome"],
)
EVENTS_DEAD_LETTERED = Counter(
    "crm_events_dead_lettered_total",
    "Messages sent to a dead-letter topic",
    ["service", "group", "topic"],
)
DEAD_LETTERS_KEPT = Counter(
    "crm_dead_letters_kept_in_store_total",
    "Dead letters the broker refused for good, kept in the service's store instead",
    ["service", "group", "topic"],
)
OUTBOX_SET_ASIDE = Counter(
    "crm_outbox_events_set_aside_total",
    "Outbox events the broker refused for good, moved to outbox_failed",
    ["service", "topic"],
)
EVENTS_REFUSED_TOO_LARGE = Counter(
    "crm_events_refused_too_large_total",
    "Events refused at the write because they would not fit the broker's limit",
    ["service", "event_type"],
)
RETENTION_DELETED = Counter(
    "crm_retention_deleted_total",
    "What a retention job deleted at the end of its period (docs/retention.md), by rule",
    ["service", "rule"],
)
HANDLER_RETRIES = Counter(
    "crm_event_handler_retries_total",
    "Failed handler attempts that were retried",
    ["service", "group"],
)
OUTBOX_BACKLOG = Gauge(
    "crm_outbox_backlog_documents",
    "Events waiting in the outbox when the relay last read it (at most one batch)",
    ["service"],
)


def metrics_response() -> Response:
    # The 0.0.4 text format every Prometheus reads (the document says so), whatever the
    # client library's newest default.
    return Response(generate_latest(), media_type=CONTENT_TYPE_PLAIN_0_0_4)


class LatencyMiddleware:
    """ASGI middleware: observes every HTTP request's latency by route template and status.

    Plain ASGI rather than Starlette's ``BaseHTTPMiddleware`` (which runs the app in a separate
    task behind memory streams on every request), and the route template is the one the router
    matched and left in ``scope["route"]``, not found again by matching every route a second
    time. Both were measurable per-request costs in ``bench/rest_contacts.py``.
    """

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_observing(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_observing)
        finally:
            REQUEST_LATENCY.labels(
                self.service, scope["method"], route_template(scope), str(status)
            ).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template (so ids do not explode the label set), or
    ``unmatched`` when no route took the request."""
    return str(getattr(scope.get("route"), "path", None) or "unmatched")
