"""Every response a test sees, checked against the service's own OpenAPI document.

``crm_kit.testing.http_client(app, conformance=True)`` runs each response through
:meth:`Conformance.check`, which raises :class:`Undeclared` naming the operation, the status
and what its document lacks:

- a **status** the operation does not declare;
- a **header** with meaning to a caller (:data:`CHECKED_HEADERS`) the response does not declare,
  or a header declared required that is missing;
- a **body** whose content type is not declared, or (JSON) that is not valid against the
  declared schema. Objects are read as closed: a field the schema does not list is undeclared
  (unless the schema says ``additionalProperties``), so a member added to a response without
  its model fails here.

A request that reaches no operation (an unknown path, a method the path does not take, FastAPI's
own ``/docs``) is not checked: there is no document to hold it to.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHECKED_HEADERS: Final = (
    "content-disposition",
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
    "x-correlation-id",
)
"""Response headers a caller acts on, so each must be declared where it is sent. Transport
headers (``content-length``, ``date``…) and the security headers every response carries
(``crm_kit.security_headers``) are not per-operation facts and are not checked."""

ROUTE_HEADER: Final = "x-conformance-route"
"""Set by :class:`RouteRecorder` on a response under test: the route template that served it
(taken off again before the test sees the response)."""

METHODS: Final = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class Undeclared(AssertionError):
    """A response its operation's OpenAPI document does not declare."""


@dataclass(frozen=True)
class _Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        operation_id = self.spec.get("operationId")
        label = f"{self.method} {self.template}"
        return f"{label} ({operation_id})" if operation_id else label


def _pattern(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


class Conformance:
    """One OpenAPI document, ready to check responses against."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        found = [
            _Operation(method.upper(), path, _pattern(path), spec)
            for path, item in document.get("paths", {}).items()
            for method, spec in item.items()
            if method in METHODS
        ]
        # A literal segment beats a parameter (``/steps/{id}/block`` before ``/steps/{id}/{a}``).
        self._operations = sorted(found, key=lambda op: (op.template.count("{"), op.template))
        self._components = _closed(copy.deepcopy(dict(document.get("components", {}))))
        self._validators: dict[tuple[str, str, str, str], Draft202012Validator] = {}

    @classmethod
    def of(cls, app: Any) -> Conformance:
        """The checker of ``app``'s document, made once per app."""
        existing = getattr(app.state, "conformance", None)
        if isinstance(existing, Conformance):
            return existing
        checker = cls(app.openapi())
        app.state.conformance = checker
        return checker

    def operation(self, method: str, path: str, template: str | None = None) -> _Operation | None:
        """The operation serving ``method path`` (its route ``template`` if known)."""
        method = method.upper()
        for op in self._operations:
            if op.method != method:
                continue
            if (template is not None and op.template == template) or (
                template is None and op.pattern.match(path)
            ):
                return op
        return None

    def check(
        self,
        method: str,
        path: str,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        template: str | None = None,
    ) -> None:
        """Raise :class:`Undeclared` unless the operation's document declares this response.

        ``headers`` are keyed in lower case.
        """
        op = self.operation(method, path, template)
        if op is None:
            return
        responses: Mapping[str, Any] = op.spec.get("responses", {})
        response = (
            responses.get(str(status))
            or responses.get(f"{status // 100}XX")
            or responses.get("default")
        )
        if response is None:
            raise Undeclared(
                f"{op.name} answered {status} to {method.upper()} {path}, a status its OpenAPI "
                f"document does not declare (it declares {', '.join(sorted(responses))}); "
                f"body: {body[:300]!r}"
            )
        faults = self._header_faults(response, headers)
        faults += self._body_faults(op, str(status), response, headers, body)
        if faults:
            raise Undeclared(
                f"{op.name} answered {status} to {method.upper()} {path} with what its OpenAPI "
                f"document does not declare: {'; '.join(faults)}"
            )

    def _header_faults(self, response: Mapping[str, Any], headers: Mapping[str, str]) -> list[str]:
        declared = {
            name.lower(): self._resolve(header)
            for name, header in response.get("headers", {}).items()
        }
        faults = [
            f"header {name} is not declared"
            for name in CHECKED_HEADERS
            if name in headers and name not in declared
        ]
        faults += [
            f"header {name}, declared required, is missing"
            for name, header in declared.items()
            if header.get("required") and name not in headers
        ]
        return faults

    def _body_faults(
        self,
        op: _Operation,
        status: str,
        response: Mapping[str, Any],
        headers: Mapping[str, str],
        body: bytes,
    ) -> list[str]:
        if not body:
            return []
        content: Mapping[str, Any] = response.get("content") or {}
        content_type = headers.get("content-type", "")
        if not content:
            return [f"a body ({content_type or 'no content type'}) where none is declared"]
        media = _declared_media(content_type, content)
        if media is None:
            return [
                f"content type {content_type!r} is not declared "
                f"(declared: {', '.join(sorted(content))})"
            ]
        schema = content[media].get("schema")
        if schema is None or not _is_json(media):
            return []
        try:
            instance = json.loads(body)
        except ValueError:
            return [f"the body is not the JSON its content type {media} says: {body[:100]!r}"]
        validator = self._validator(op, status, media, schema)
        errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
        return [
            f"body{_json_path(error.absolute_path)}: {error.message[:300]}" for error in errors[:5]
        ]

    def _validator(
        self, op: _Operation, status: str, media: str, schema: Mapping[str, Any]
    ) -> Draft202012Validator:
        key = (op.method, op.template, status, media)
        if key not in self._validators:
            # The document's components ride along, so its "#/components/..." refs resolve.
            root = {**_closed(copy.deepcopy(dict(schema))), "components": self._components}
            self._validators[key] = Draft202012Validator(root)
        return self._validators[key]

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = self.document
        for part in ref[2:].split("/"):
            target = target[part]
        resolved: Mapping[str, Any] = target
        return resolved


def _closed(node: Any) -> Any:
    """Every object schema that lists its properties and says nothing of others, closed."""
    if isinstance(node, dict):
        closed = {key: _closed(value) for key, value in node.items()}
        if (
            isinstance(node.get("properties"), dict)
            and "additionalProperties" not in node
            and "unevaluatedProperties" not in node
        ):
            closed["unevaluatedProperties"] = False
        return closed
    if isinstance(node, list):
        return [_closed(item) for item in node]
    return node


def _media_parts(media_type: str) -> tuple[str, dict[str, str]]:
    essence, *params = (part.strip() for part in media_type.split(";"))
    parsed = {}
    for param in params:
        name, _, value = param.partition("=")
        parsed[name.strip().lower()] = value.strip().strip('"')
    return essence.lower(), parsed


def _declared_media(content_type: str, content: Mapping[str, Any]) -> str | None:
    """The declared media type the response's content type is: the same type and subtype,
    and every parameter the declaration names (``version=0.0.4``) with the same value."""
    essence, params = _media_parts(content_type)
    for declared in content:
        declared_essence, declared_params = _media_parts(declared)
        if declared_essence in (essence, "*/*") and all(
            params.get(name) == value for name, value in declared_params.items()
        ):
            return declared
    return None


def _is_json(media: str) -> bool:
    essence, _ = _media_parts(media)
    return essence == "application/json" or essence.endswith("+json")


def _json_path(path: Any) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


class RouteRecorder:
    """ASGI wrapper for a test client: tells the checker which route served each response.

    The route template the router matched (``scope["route"]``) goes out in
    :data:`ROUTE_HEADER`; a response refused before routing (a body over the limit) has none,
    and is matched to an operation by its path.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                route = scope.get("route")
                template = getattr(route, "path_format", None) or getattr(route, "path", None)
                if isinstance(template, str):
                    headers = list(message.get("headers", []))
                    headers.append((ROUTE_HEADER.encode(), template.encode()))
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, recording)


def response_checker(app: Any) -> Any:
    """An httpx ``response`` event hook checking each response against ``app``'s document."""

    async def check(response: Any) -> None:
        template = response.headers.get(ROUTE_HEADER)
        if template is not None:
            del response.headers[ROUTE_HEADER]
        await response.aread()
        headers = {name.lower(): value for name, value in response.headers.items()}
        Conformance.of(app).check(
            response.request.method,
            response.request.url.path,
            response.status_code,
            headers,
            response.content,
            template,
        )

    return check
