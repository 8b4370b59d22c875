"""Prometheus metrics every service exposes at ``/metrics``.

Metrics are process-wide and labelled by service, so several apps in one process (tests)
share the collectors instead of registering them twice.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match

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
HANDLER_RETRIES = Counter(
    "crm_event_handler_retries_total",
    "Failed handler attempts that were retried",
    ["service", "group"],
)
OUTBOX_BACKLOG = Gauge(
    "crm_outbox_backlog_documents",
    "Documents holding events not yet published, as of the relay's last scan",
    ["service"],
)


def metrics_response() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def route_template(request: Request) -> str:
    """The route's path template, so ids do not explode the label set."""
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", request.url.path))
    return "unmatched"


def latency_middleware(
    service: str,
) -> Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]:
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            REQUEST_LATENCY.labels(
                service, request.method, route_template(request), str(status)
            ).observe(time.perf_counter() - started)

    return observe
