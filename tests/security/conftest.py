"""The four services in process on the real stack, and their operations read from OpenAPI.

The operations are enumerated from each service's own ``create(settings).openapi()`` at
collection time, so a route added tomorrow is checked tomorrow without touching these tests;
the scopes a route needs come from its ``requires(...)`` dependencies
(``crm_kit.auth.scopes_required_by``), not from a hand-kept table.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from crm_campaigns.app import create as create_campaigns
from crm_campaigns.settings import CampaignsSettings
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
from crm_kit.access import DATA_PROTECTION, INTEGRATION
from crm_kit.auth import scopes_required_by
from crm_kit.settings import ServiceSettings
from crm_kit.testing import JwtKeys, StackEndpoints, bearer, http_client, running, service_env
from crm_notify.app import create as create_notify
from crm_notify.settings import NotifySettings
from crm_proposals.app import create as create_proposals
from crm_proposals.settings import ProposalsSettings
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

MAX_BODY_BYTES = 64 * 1024
"""The body limit the services under test run with (the default is larger)."""

SERVICES: dict[str, tuple[Callable[[Any], FastAPI], type[ServiceSettings]]] = {
    "contacts": (create_contacts, ContactsSettings),
    "campaigns": (create_campaigns, CampaignsSettings),
    "proposals": (create_proposals, ProposalsSettings),
    "notify": (create_notify, NotifySettings),
}

PUBLIC_OPERATIONS = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/asyncapi"),
}
"""Operations every service serves without a token (probes and documents)."""

PUBLIC_BY_SERVICE = {
    # The signed link is the credential of the invitation and questionnaire pages.
    "campaigns": {("GET", "/i/{token}"), ("POST", "/i/{token}")}
    | {("GET", "/q/{token}"), ("POST", "/q/{token}")}
    | {("GET", "/feeds/plan-schedule/{token}.ics")},
    # The signed link in every marketing message is the credential of the unsubscribe page.
    "notify": {("GET", "/u/{token}"), ("POST", "/u/{token}")},
}


@dataclass(frozen=True)
class Operation:
    service: str
    method: str
    path: str
    spec: dict[str, Any] = field(compare=False, repr=False)
    scopes: frozenset[str] | None = field(compare=False)
    """What the route's token must hold; ``None`` for a public route."""

    @property
    def id(self) -> str:
        return f"{self.service} {self.method} {self.path}"

    def url(self, value: str = "1") -> str:
        """The path with every parameter filled with ``value``."""
        url = self.path
        for parameter in self.spec.get("parameters", []):
            if parameter["in"] == "path":
                url = url.replace("{" + parameter["name"] + "}", value)
        return url

    def json_body_schema(self) -> dict[str, Any] | None:
        content = self.spec.get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema")
        return schema if isinstance(schema, dict) else None


def _settings_for_collection(settings_cls: type[ServiceSettings]) -> ServiceSettings:
    return settings_cls(environment="test", jwt_public_key_file=None, log_json=False)


def _route_of(app: FastAPI, method: str, path: str) -> Any:
    # FastAPI >= 0.16x keeps included routers as such: walk the effective routes through them.
    for route in iter_route_contexts(app.routes):
        if route.path_format == path and method in (route.methods or ()):
            return route
    raise LookupError(f"{method} {path} is in the OpenAPI document but no route serves it")


def operations_of(service: str) -> list[Operation]:
    create, settings_cls = SERVICES[service]
    app = create(_settings_for_collection(settings_cls))
    found = []
    for path, item in sorted(app.openapi()["paths"].items()):
        for method, spec in sorted(item.items()):
            method = method.upper()
            route = _route_of(app, method, path)
            found.append(Operation(service, method, path, spec, scopes_required_by(route)))
    return found


ALL_OPERATIONS = [op for name in SERVICES for op in operations_of(name)]
PROTECTED = [op for op in ALL_OPERATIONS if op.scopes is not None]


def service_scopes(service: str) -> frozenset[str]:
    """Every scope some route of ``service`` needs."""
    return frozenset(
        s for op in ALL_OPERATIONS if op.service == service and op.scopes for s in op.scopes
    )


@dataclass
class RunningService:
    name: str
    app: FastAPI
    api: httpx.AsyncClient
    keys: JwtKeys

    @property
    def admin(self) -> dict[str, str]:
        """A token holding every scope the service knows, of an internal app that also holds
        the role erasure and the data export ask for (they are open to no other)."""
        return bearer(
            self.keys, *sorted(service_scopes(self.name)), roles=(INTEGRATION, DATA_PROTECTION)
        )

    @property
    def db(self) -> Any:
        return self.app.state.runtime.db


def settings_under_test(
    name: str, stack: StackEndpoints, keys: JwtKeys, **overrides: Any
) -> ServiceSettings:
    _, settings_cls = SERVICES[name]
    extra: dict[str, Any] = {"max_request_body_bytes": MAX_BODY_BYTES}
    if name == "notify":
        # Never deliver to the shared local mail catcher or gateway sink: nothing listens on 9.
        extra |= {"smtp_port": 9, "gateway_url": "http://127.0.0.1:9/messages"}
    return settings_cls(**service_env(stack, keys, name, **(extra | overrides)))


@contextlib.asynccontextmanager
async def started(
    name: str, stack: StackEndpoints, keys: JwtKeys, **overrides: Any
) -> AsyncIterator[RunningService]:
    create, _ = SERVICES[name]
    app = create(settings_under_test(name, stack, keys, **overrides))
    async with running(app), http_client(app, conformance=True) as api:
        yield RunningService(name, app, api, keys)


@pytest.fixture(scope="module")
async def services(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[dict[str, Any]]:
    """All four services, running for the module."""
    async with contextlib.AsyncExitStack() as running_stack:
        started_services = {
            name: await running_stack.enter_async_context(started(name, stack, jwt_keys))
            for name in SERVICES
        }
        yield started_services


def by_id(ops: list[Operation]) -> Iterator[Any]:
    for op in ops:
        yield pytest.param(op, id=op.id)
