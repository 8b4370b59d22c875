"""Each service's OpenAPI document, completed from what its routes actually do.

FastAPI documents a route's success body and what the route lists in ``responses=``; it does
not know what the kit adds around every route. This module completes each operation of the
document FastAPI generates, from the route itself:

- **who may call it**: the scopes its ``requires(...)`` checks, as the operation's security
  requirement (``HTTPBearer`` with those scopes), and the roles ``crm_kit.access.TABLE`` lists
  for it (``x-roles``, and a sentence in the description);
- **every problem it can answer**, as ``application/problem+json`` of a named schema: 401 and
  403 on an authenticated route; 400 (an undecodable body), 413 and 422 on a route that takes
  a body; 422 on one with parameters; 400 on a list that takes a signed ``cursor``; 412, 428
  on an ``If-Match`` update; 404 on a route with path parameters; 503 (the store or the token
  keys away, with ``Retry-After``) on every route that reads the store; plus what the route
  declares itself (409, 429…);
- **the headers it sends**: ``X-Correlation-ID`` on every response, ``WWW-Authenticate`` on a
  401 (and a 403 for a missing scope), ``Location`` on a 201 (and where the route sets it),
  ``ETag`` where the route sets it, ``Retry-After`` on 429 and 503, ``Content-Disposition`` on a
  CSV download.

``crm_kit.conformance`` checks every response the tests see against the completed document, so
a route that answers what its document lacks fails a test.
"""

from __future__ import annotations

import copy
import dis
import inspect
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from crm_kit import access
from crm_kit.auth import scopes_required_by
from crm_kit.cursors import page_cursor
from crm_kit.http import expected_version, set_etag
from crm_kit.problems import (
    MAX_LISTED_ERRORS,
    PROBLEM_MEDIA_TYPE,
    PROBLEM_RESPONSES,
    PROBLEM_TYPE_BASE,
)

BEARER_SCHEME: Final = "HTTPBearer"
"""The security scheme FastAPI names after ``crm_kit.auth``'s ``HTTPBearer``."""

UNGUARDED: Final = frozenset({"/healthz", "/metrics", "/asyncapi", "/readyz"})
"""Operational routes that answer without the store (``/readyz`` says 503 in its own body)."""

METRICS_MEDIA_TYPE: Final = "text/plain; version=0.0.4"
"""Prometheus' text exposition format, as ``/metrics`` answers it (with ``charset=utf-8``)."""

_SCHEMA = "#/components/schemas/"
_HEADER = "#/components/headers/"

_STRING = {"type": "string"}
_STRINGS = {"type": "array", "items": _STRING}

HEADERS: Final[dict[str, dict[str, Any]]] = {
    "X-Correlation-ID": {
        "description": (
            "The id that labels this request's logs and the events it causes: the caller's "
            "`X-Correlation-ID` if usable (1 to 128 of `A-Z a-z 0-9 . _ : @ / + = -`), else a "
            "new one."
        ),
        "schema": {"type": "string", "maxLength": 128},
        "required": True,
    },
    "ETag": {
        "description": 'The version read, e.g. `"3"`: send it back as `If-Match` to update.',
        "schema": {"type": "string", "examples": ['"3"']},
    },
    "Location": {
        "description": "Where the resource this request made (or names) is read.",
        "schema": {"type": "string", "format": "uri-reference"},
    },
    "WWW-Authenticate": {
        "description": (
            'The bearer challenge (RFC 6750): `Bearer`, with `error="invalid_token"` for a bad '
            'token, or `error="insufficient_scope", scope="…"` on a 403 for a missing scope.'
        ),
        "schema": _STRING,
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "Content-Disposition": {
        "description": "The file name to save the download under.",
        "schema": _STRING,
    },
}


def _field_error() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One offending value: where it is, what is wrong, and a kind.",
        "properties": {
            "field": {
                "type": "string",
                "description": "The value's request path: `body.people[0].email`, "
                "`query.limit`, `header.if-match`, `path.client_id`.",
                "examples": ["body.people[0].email"],
            },
            "message": {"type": "string", "examples": ["unknown field"]},
            "type": {
                "type": "string",
                "description": "A machine-readable kind (`missing`, `extra_forbidden`, "
                "`invalid-channel`…).",
                "examples": ["extra_forbidden"],
            },
        },
        "required": ["field", "message", "type"],
    }


def _candidate() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "An existing client (or one of its people) the request looks like.",
        "properties": {
            "id": {"type": "string", "description": "The client's id (a client duplicate)."},
            "client_id": {"type": "string", "description": "The person's client."},
            "person_id": {"type": "string", "description": "The person (a person duplicate)."},
            "name": _STRING,
            "status": {"type": "string", "description": "The client's status."},
            "reasons": {
                **_STRINGS,
                "description": "What matched: `tax_id`, `name`, `email`, `phone`…",
            },
        },
        "required": ["name", "reasons"],
    }


def _problem_schemas() -> dict[str, dict[str, Any]]:
    nullable_string = {"type": ["string", "null"]}
    base = {
        "type": "object",
        "description": (
            "Every error is an RFC 9457 problem. `type` names the kind of problem "
            f"(`{PROBLEM_TYPE_BASE}<kind>`); `errors` names each offending field. The members "
            "below are all a service sends today; a client ignores members it does not know."
        ),
        "properties": {
            "type": {
                "type": "string",
                "examples": [f"{PROBLEM_TYPE_BASE}not-found"],
            },
            "title": {"type": "string", "examples": ["Not found"]},
            "status": {"type": "integer", "examples": [404]},
            "detail": {**nullable_string, "examples": ["client 665f1c2e not found"]},
            "instance": {**nullable_string, "examples": ["/clients/665f1c2e"]},
            "errors": {
                "type": "array",
                "items": {"$ref": _SCHEMA + "FieldError"},
                "maxItems": MAX_LISTED_ERRORS,
                "description": f"Each offending value, the first {MAX_LISTED_ERRORS}.",
            },
            "errors_not_listed": {
                "type": "integer",
                "description": "Offending values found beyond the ones `errors` lists.",
            },
            # 403
            "missing_scopes": {
                **_STRINGS,
                "description": "403: the scopes the token lacks for this operation.",
            },
            "allowed_roles": {
                **_STRINGS,
                "description": "403: the roles that would do (docs/authorization.md).",
            },
            "held_roles": {**_STRINGS, "description": "403: the roles the token holds."},
            "rule": {
                "type": "string",
                "enum": ["four-eyes", "step-assignee"],
                "description": "403: the rule on the data that refused (four eyes on a "
                "discount, a plan step completed by its assignee).",
            },
            "field": {
                "type": "string",
                "description": "403: the field naming another employee than the caller.",
            },
            # 409
            "candidates": {
                "type": "array",
                "items": {"$ref": _SCHEMA + "DuplicateCandidate"},
                "description": "409: the likely duplicates; send again with `insist=true` to "
                "register anyway.",
            },
            "survivor_client_id": {
                "type": "string",
                "description": "409: the client this (merged) one now lives on as.",
            },
            "survivor": {"type": "string", "description": "409: the survivor's path."},
            # 412
            "current_version": {
                "type": ["integer", "string"],
                "description": "412: the version the resource is at now.",
            },
            # 413
            "max_bytes": {"type": "integer", "description": "413: the limit that was passed."},
            "event_type": {
                "type": "string",
                "description": "413: the event a change would have caused.",
            },
            "size": {"type": "integer", "description": "413: that event's size in bytes."},
        },
        "required": ["type", "title", "status"],
    }
    return {
        "Problem": base,
        "FieldError": _field_error(),
        "DuplicateCandidate": _candidate(),
    }


@dataclass(frozen=True)
class _Problem:
    description: str
    headers: tuple[tuple[str, bool], ...] = ()


_PROBLEMS: Final[Mapping[int, _Problem]] = {
    400: _Problem("Bad request: the request cannot be read"),
    401: _Problem(
        "Unauthorized: no bearer token, or one that is expired, badly signed or not for this "
        "service",
        (("WWW-Authenticate", True),),
    ),
    403: _Problem(
        "Forbidden: the token lacks a scope (`missing_scopes`, with `WWW-Authenticate`), the "
        "caller holds none of the operation's roles (`allowed_roles`, `held_roles`), or a rule "
        "on the data refuses (`rule`, `field`)",
        (("WWW-Authenticate", False),),
    ),
    404: _Problem("Not found: no such resource (`detail` names it)"),
    409: _Problem(
        "Conflict with the resource's state: a likely duplicate (`candidates`), a transition "
        "the state does not allow, a merged client (`survivor`)"
    ),
    412: _Problem(
        "Version conflict: the `If-Match` version is not the current one (`current_version`); "
        "read again, re-apply, retry"
    ),
    413: _Problem(
        "Content too large: the body passes the limit (`max_bytes`), or the change would "
        "cause an event larger than the broker takes (`event_type`, `size`)"
    ),
    422: _Problem("Invalid input: `errors` names every offending value"),
    428: _Problem("Precondition required: this update needs an `If-Match` header"),
    429: _Problem("Too many requests: wait `Retry-After` seconds", (("Retry-After", True),)),
    503: _Problem(
        "Unavailable for a moment: the service's database or the token provider's keys did "
        "not answer; try again after `Retry-After` seconds",
        (("Retry-After", True),),
    ),
}


@dataclass(frozen=True)
class RouteFacts:
    """What a route does that its document must say, read from the route itself."""

    method: str
    scopes: frozenset[str] | None
    roles: access.Rule | None
    if_match: bool
    cursor: bool
    body: bool
    path_parameters: bool
    sets: frozenset[str]
    """Response headers the endpoint sets itself (``ETag``, ``Location``)."""


def install(app: FastAPI, service: str) -> None:
    """Make ``app.openapi()`` return the completed document (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            generated = copy.deepcopy(FastAPI.openapi(app))
            app.openapi_schema = complete(generated, app, service)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(document: dict[str, Any], app: FastAPI, service: str) -> dict[str, Any]:
    """``document`` (FastAPI's, for ``app``) with every operation completed, in place."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {}).update(_problem_schemas())
    components["headers"] = copy.deepcopy(HEADERS)
    facts = {
        (method, path): _facts(route, service, method, path) for route, method, path in _routes(app)
    }
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            found = facts.get((method.upper(), path))
            if found is not None:
                _complete_operation(operation, path, found)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in components["schemas"] and not _referenced(document, _SCHEMA + unused):
            del components["schemas"][unused]
    return document


def _routes(app: FastAPI) -> Iterator[tuple[Any, str, str]]:
    for route in iter_route_contexts(app.routes):
        path = route.path_format
        if path is None or not getattr(route, "include_in_schema", False):
            continue
        for method in sorted(route.methods or ()):
            yield route, method, path


def _dependency_calls(route: Any) -> Iterator[Callable[..., Any]]:
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is None:
            continue
        if dependant.call is not None:
            yield dependant.call
        pending.extend(dependant.dependencies)


def _headers_set_by(function: Any, depth: int = 2) -> frozenset[str]:
    """The headers (``ETag``, ``Location``) a route's endpoint sets: through ``set_etag`` (by
    any name) or naming the header, in its own code or a helper of its module it calls."""
    code = getattr(function, "__code__", None)
    if code is None:
        return frozenset()
    found: set[str] = set()
    codes = [code]
    while codes:
        current = codes.pop()
        for const in current.co_consts:
            if isinstance(const, types.CodeType):
                codes.append(const)
            elif const in ("ETag", "Location"):
                found.add(const)
        globals_read = {
            i.argval for i in dis.get_instructions(current) if i.opname == "LOAD_GLOBAL"
        }
        for name in globals_read:
            target = function.__globals__.get(name)
            if target is set_etag:
                found.add("ETag")
            elif depth and inspect.isfunction(target) and target.__module__ == function.__module__:
                found |= _headers_set_by(target, depth - 1)
    return frozenset(found)


def _facts(route: Any, service: str, method: str, path: str) -> RouteFacts:
    calls = set(_dependency_calls(route))
    scopes = scopes_required_by(route)
    return RouteFacts(
        method=method,
        scopes=scopes,
        roles=access.rule_for(service, method, path) if scopes is not None else None,
        if_match=expected_version in calls,
        cursor=page_cursor in calls,
        body=getattr(route, "body_field", None) is not None,
        path_parameters="{" in path,
        sets=_headers_set_by(getattr(route, "endpoint", None)),
    )


def _complete_operation(operation: dict[str, Any], path: str, facts: RouteFacts) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if facts.scopes is not None:
        _security(operation, facts)
    wanted: set[int] = set()
    if facts.scopes is not None:
        wanted |= {401, 403}
    body = facts.body or "requestBody" in operation
    if body:
        wanted |= {400, 413, 422}
    if operation.get("parameters"):
        wanted.add(422)
    if facts.cursor:
        wanted.add(400)
    if facts.if_match or any(
        p.get("in") == "header" and str(p.get("name")).lower() == "if-match"
        for p in operation.get("parameters", [])
    ):
        wanted |= {412, 422, 428}
    if facts.path_parameters:
        wanted.add(404)
    if path not in UNGUARDED:
        wanted.add(503)
    for code in sorted(wanted):
        responses.setdefault(str(code), {"description": _PROBLEMS[code].description})
    if "400" in responses and responses["400"].get("description") in _GENERIC_DESCRIPTIONS:
        responses["400"]["description"] = _bad_request(body, facts.cursor)
    for status, response in responses.items():
        _complete_response(status, response, facts)


def _bad_request(body: bool, cursor: bool) -> str:
    why = []
    if body:
        why.append("a body that cannot be decoded (not UTF-8, or a form that cannot be parsed)")
    if cursor:
        why.append("a `cursor` this list did not issue (`errors` names `query.cursor`)")
    return "Bad request: " + ", or ".join(why) if why else _PROBLEMS[400].description


def _security(operation: dict[str, Any], facts: RouteFacts) -> None:
    scopes = sorted(facts.scopes or ())
    operation["security"] = [{BEARER_SCHEME: scopes}]
    roles = sorted(facts.roles.roles) if facts.roles is not None else []
    operation["x-roles"] = roles
    if roles == sorted(access.ROLES):
        who = "any role"
    elif roles:
        who = "one of the roles " + ", ".join(f"`{r}`" for r in roles)
    else:
        who = "a role nobody holds (the operation is not in the authorization table)"
    needs = " and ".join(f"`{s}`" for s in scopes)
    sentence = (
        f"**Who may call it:** a token with the scope {needs} and {who}"
        if scopes
        else f"**Who may call it:** any valid token with {who}"
    )
    if facts.roles is not None and facts.roles.why:
        sentence += f" ({facts.roles.why})"
    sentence += "; see docs/authorization.md."
    description = operation.get("description", "")
    operation["description"] = f"{description}\n\n{sentence}" if description else sentence


def _complete_response(status: str, response: dict[str, Any], facts: RouteFacts) -> None:
    code = int(status) if status.isdigit() else 0
    content: dict[str, Any] = response.get("content") or {}
    problem = _PROBLEMS.get(code)
    if problem is not None and (
        not content or PROBLEM_MEDIA_TYPE in content or _is_fastapi_validation(content)
    ):
        # FastAPI's own 422 (HTTPValidationError) and the kit's inline problem schema both
        # become the one named Problem schema; a page's own HTML answer stays as it is.
        if _is_fastapi_validation(content):
            del content["application/json"]
        content[PROBLEM_MEDIA_TYPE] = {"schema": {"$ref": _SCHEMA + "Problem"}}
        response["content"] = content
        if response.get("description") in _GENERIC_DESCRIPTIONS:
            response["description"] = problem.description
    headers: dict[str, Any] = response.setdefault("headers", {})
    headers["X-Correlation-ID"] = {"$ref": _HEADER + "X-Correlation-ID"}
    # A page's 429 says Retry-After too; /readyz's own 503 (JSON, not a problem) does not.
    if problem is not None and (PROBLEM_MEDIA_TYPE in content or code == 429):
        for name, required in problem.headers:
            headers[name] = _header(name, required)
    if 300 <= code < 400 or (code == 201 and "Location" in facts.sets):
        headers["Location"] = _header("Location", True)
    elif 200 <= code < 300 and "Location" in facts.sets and facts.method != "GET":
        headers["Location"] = _header("Location", False)
    if 200 <= code < 300 and "ETag" in facts.sets:
        headers["ETag"] = _header("ETag", False)
    if any(media.startswith("text/csv") for media in content):
        headers["Content-Disposition"] = _header("Content-Disposition", False)


_GENERIC_DESCRIPTIONS: Final = frozenset(
    {
        None,
        "",
        "Validation Error",
        "Bad request: the request cannot be read",
        *(r["description"] for r in PROBLEM_RESPONSES.values()),
    }
)
"""Descriptions a route did not write for itself: replaced by the kit's fuller ones."""


def _header(name: str, required: bool) -> dict[str, Any]:
    if required == bool(HEADERS[name].get("required")):
        return {"$ref": _HEADER + name}
    return {**HEADERS[name], "required": required}


def _is_fastapi_validation(content: Mapping[str, Any]) -> bool:
    schema = content.get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))


def _referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_referenced(v, ref) for v in node)
    return False
