"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error a service returns has the same body::

    {"type": "https://crm.example/problems/invalid-input", "title": "Invalid input",
     "status": 422, "detail": "body.address.city: Field required", "instance": "/clients",
     "errors": [{"field": "body.address.city", "message": "Field required", "type": "missing"}]}

plus any extension members a problem carries (``candidates`` on a duplicate, say).

A body that is wrong in many places lists the first ``MAX_LISTED_ERRORS`` of them and says how
many more there are (``errors_not_listed``); a field path, message or detail longer than
``MAX_ECHO`` characters is cut (an unknown key may be a megabyte long), so an error body stays
small whatever was sent.

A field path starts with where the value came from (``body``, ``query``, ``path``, ``header``)
and follows the value down: object keys joined with ``.``, list positions in brackets, e.g.
``body.people[0].email``, whether the schema or a service's own rules found the fault (a
domain error's field that names no origin is a body field: ``answers[1].scale`` is shown as
``body.answers[1].scale``).

Every fault of a request is listed, not only the first: the schema's all together; a service's
own checks, which run once the schema passed, through ``crm_kit.refusals`` (one refusal keeps
its own type, e.g. ``invalid-channel``; several are one ``invalid-input`` problem whose errors
each name their kind).

409 or 412? ``VersionConflict`` (412) is only for a failed ``If-Match`` precondition: the client
sent the version it read and the resource has moved on since. ``Conflict`` (409) is for a request
that clashes with the resource's state whatever version the client saw: a duplicate, a transition
the state does not allow. An update that needs ``If-Match`` and came without it is
``PreconditionRequired`` (428).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pymongo.errors import ConnectionFailure
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_kit.refusals import Refused, refusals_of

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://crm.example/problems/"
MAX_LISTED_ERRORS = 20
"""Field errors listed in one problem; the rest are counted in ``errors_not_listed``."""
MAX_ECHO = 200
"""Characters of a field path or message kept; a longer one ends in an ellipsis."""
MAX_DETAIL = 1000
"""Characters of a problem's ``detail`` kept."""
_STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "errors"})


class FieldError(BaseModel):
    """One offending value: where it is, what is wrong, and a machine-readable kind."""

    model_config = ConfigDict(frozen=True)

    field: str = Field(examples=["body.people[0].email"])
    message: str = Field(examples=["unknown field"])
    type: str = Field(examples=["extra_forbidden"])

    @field_validator("field", "message", "type")
    @classmethod
    def _clipped(cls, value: str) -> str:
        return clip(value, MAX_ECHO)


class ProblemDetails(BaseModel):
    """The body of every error response (RFC 9457); extension members may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", examples=[f"{PROBLEM_TYPE_BASE}not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["client 665f1c2e does not exist"])
    instance: str | None = Field(default=None, examples=["/clients/665f1c2e"])
    errors: list[FieldError] | None = None
    errors_not_listed: int | None = Field(
        default=None, description="Field errors found beyond the ones `errors` lists."
    )


class Problem(Exception):
    """An error that knows how it is shown to an HTTP caller.

    Subclasses fix ``status``, ``title`` and the type ``slug``; a raise adds the ``detail``,
    field ``errors``, extension members (``extra``) and response ``headers``.
    """

    status: int = 500
    title: str = "Internal Server Error"
    slug: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str | None = None,
        *,
        status: int | None = None,
        title: str | None = None,
        type: str | None = None,
        errors: Iterable[FieldError] = (),
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        detail = clip(detail, MAX_DETAIL) if detail is not None else None
        super().__init__(detail or title or self.title)
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.detail = detail
        self.type = type or (PROBLEM_TYPE_BASE + self.slug if self.slug else "about:blank")
        self.errors: list[FieldError] = list(errors)
        clashing = _STANDARD_MEMBERS.intersection(extra or {})
        if clashing:
            raise ValueError(f"extension members may not replace {sorted(clashing)}")
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})

    def to_body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": clip(instance, MAX_ECHO) if instance is not None else None,
        }
        if self.errors:
            body["errors"] = [error.model_dump() for error in self.errors]
        body.update(self.extra)
        return body

    def to_response(self, instance: str | None = None) -> JSONResponse:
        return JSONResponse(
            self.to_body(instance),
            status_code=self.status,
            headers=self.headers or None,
            media_type=PROBLEM_MEDIA_TYPE,
        )


class NotFound(Problem):
    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(Problem):
    """The request clashes with the resource's current state (duplicate, illegal transition)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class VersionConflict(Problem):
    """The ``If-Match`` version is not the current one: re-read, re-apply, retry."""

    status = 412
    title = "Version conflict"
    slug = "version-conflict"

    def __init__(
        self, detail: str | None = None, *, current_version: int | str | None = None
    ) -> None:
        extra = {"current_version": current_version} if current_version is not None else None
        super().__init__(detail, extra=extra)


class PreconditionRequired(Problem):
    status = 428
    title = "Precondition required"
    slug = "precondition-required"

    def __init__(self, detail: str = "this update needs an If-Match header") -> None:
        super().__init__(detail)


class Unauthorized(Problem):
    """No usable credentials. ``error`` is the RFC 6750 code, e.g. ``invalid_token``."""

    status = 401
    title = "Unauthorized"
    slug = "unauthorized"

    def __init__(self, detail: str | None = None, *, error: str | None = None) -> None:
        challenge = "Bearer"
        if error is not None:
            challenge += f' error="{error}"'
            if detail:
                challenge += f', error_description="{_quotable(detail)}"'
        super().__init__(detail, headers={"WWW-Authenticate": challenge})


class Forbidden(Problem):
    status = 403
    title = "Forbidden"
    slug = "forbidden"


class InvalidInput(Problem):
    status = 422
    title = "Invalid input"
    slug = "invalid-input"

    def __init__(self, errors: Sequence[FieldError], detail: str | None = None) -> None:
        listed = errors[:MAX_LISTED_ERRORS]
        more = len(errors) - len(listed)
        super().__init__(
            detail or _summarise(errors),
            errors=listed,
            extra={"errors_not_listed": more} if more else None,
        )


class PayloadTooLarge(Problem):
    status = 413
    title = "Content too large"
    slug = "payload-too-large"

    def __init__(self, max_bytes: int) -> None:
        super().__init__(
            f"the request body exceeds {max_bytes} bytes", extra={"max_bytes": max_bytes}
        )


class EventTooLarge(Problem):
    """A write would cause an event larger than the broker takes: refused, nothing stored."""

    status = 413
    title = "Content too large"
    slug = "event-too-large"

    def __init__(self, event_type: str, size: int, max_bytes: int) -> None:
        super().__init__(
            f"the {event_type} event this change causes would be {size} bytes, more than the "
            f"{max_bytes} an event may be; shorten the longest fields",
            extra={"event_type": event_type, "size": size, "max_bytes": max_bytes},
        )


def field_path(loc: Sequence[int | str]) -> str:
    """``("body", "people", 0, "email")`` → ``body.people[0].email``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


ORIGINS = ("body", "query", "path", "header")
"""Where a request value comes from: the first part of every field path."""


def request_path(field: str) -> str:
    """A domain error's field as a request path: one naming no origin (``answers[1].scale``,
    as domain modules name what they were given) is in the body (``body.answers[1].scale``)."""
    if any(field == o or field.startswith((f"{o}.", f"{o}[")) for o in ORIGINS):
        return field
    return f"body.{field}" if field[:1] != "[" else f"body{field}"


def refusal_error(exc: BaseException) -> FieldError:
    """A domain refusal as a field error: its ``field`` as a request path (``body`` if it
    names none), its message, and its kind from its class (``InvalidChannel`` →
    ``invalid-channel``)."""
    field = getattr(exc, "field", None)
    return FieldError(
        field=request_path(field) if field else "body",
        message=str(exc),
        type=_kebab(type(exc).__name__),
    )


def install_problem_handlers(
    app: FastAPI, domain_errors: Mapping[type[Exception], int] | None = None
) -> None:
    """Render every error of ``app`` as problem+json.

    ``domain_errors`` maps a service's domain exceptions to statuses in one place; the
    exception's ``str()`` becomes ``detail`` and an optional ``field`` attribute names the
    offending field. A subclass inherits its base class's status unless mapped itself.
    An exception carrying several refusals (``crm_kit.refusals.Refused``, 422 unless mapped)
    is one ``invalid-input`` problem whose ``errors`` lists each, as a body the schema refused
    in several places is.
    """
    statuses = dict(domain_errors or {})
    statuses.setdefault(Refused, 422)

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return exc.to_response(request.url.path)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        found = exc.errors()
        errors = [
            FieldError(
                field=field_path(error.get("loc", ())),
                message="unknown field" if error["type"] == "extra_forbidden" else error["msg"],
                type=error["type"],
            )
            for error in found[:MAX_LISTED_ERRORS]
        ]
        problem = InvalidInput(errors)
        if len(found) > len(errors):
            problem.detail = _summarise_count(len(found))
            problem.extra["errors_not_listed"] = len(found) - len(errors)
        return problem.to_response(request.url.path)

    async def on_http_exception(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        title = _phrase(exc.status_code)
        detail = exc.detail if isinstance(exc.detail, str) else title
        if detail == title and exc.status_code == 404:
            detail = f"nothing is at {request.url.path}"
        elif detail == title and exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        problem = Problem(detail, status=exc.status_code, title=title, headers=exc.headers)
        return problem.to_response(request.url.path)

    async def on_domain_error(request: Request, exc: Exception) -> Response:
        status = next(statuses[cls] for cls in type(exc).__mro__ if cls in statuses)
        several = refusals_of(exc)
        if several:
            # One request wrong in several places: one problem listing each, like a body the
            # schema refused in several places.
            listed = InvalidInput([refusal_error(e) for e in several])
            listed.status = status
            return listed.to_response(request.url.path)
        slug = _kebab(type(exc).__name__)
        field = getattr(exc, "field", None)
        if field and status != 404:
            # A 404 names the missing thing as the service knows it (often a path parameter);
            # any other refusal is of a value the caller sent, named by its request path.
            field = request_path(field)
        errors = [FieldError(field=field, message=str(exc), type=slug)] if field else []
        problem = Problem(
            str(exc) or None,
            status=status,
            title=_sentence(type(exc).__name__),
            type=PROBLEM_TYPE_BASE + slug,
            errors=errors,
        )
        return problem.to_response(request.url.path)

    async def on_store_unavailable(request: Request, exc: Exception) -> Response:
        # The store did not answer (restarting, electing a primary): a 503 the caller can retry,
        # not a 500; a transaction whose commit was unknown was already retried by the driver.
        logger.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
        problem = Problem(
            "the service's database did not answer; try again shortly",
            status=503,
            title="Store unavailable",
            type=PROBLEM_TYPE_BASE + "store-unavailable",
            headers={"Retry-After": "2"},
        )
        return problem.to_response(request.url.path)

    async def on_unhandled(request: Request, exc: Exception) -> Response:
        # Starlette re-raises after this response, so the server logs the traceback too;
        # this line ties it to the request.
        logger.error(
            "unhandled %s on %s %s",
            type(exc).__name__,
            request.method,
            request.url.path,
            exc_info=exc,
        )
        problem = Problem("an unexpected error occurred; it has been logged")
        return problem.to_response(request.url.path)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    for error_class in statuses:
        app.add_exception_handler(error_class, on_domain_error)
    app.add_exception_handler(ConnectionFailure, on_store_unavailable)
    app.add_exception_handler(Exception, on_unhandled)


def _problem_response_doc(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": _inline_schema(ProblemDetails)}},
    }


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON Schema with ``$defs`` inlined, so it can sit anywhere in OpenAPI."""
    schema = model.model_json_schema()
    definitions: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(definitions[ref.removeprefix("#/$defs/")])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _problem_response_doc("A cursor this list did not issue"),
    401: _problem_response_doc("Missing or invalid bearer token"),
    403: _problem_response_doc("The token lacks a required scope"),
    404: _problem_response_doc("No such resource"),
    409: _problem_response_doc("Conflicts with the resource's current state"),
    412: _problem_response_doc("The If-Match version is not the current one"),
    413: _problem_response_doc("The request body is too large"),
    422: _problem_response_doc("Invalid input; `errors` names each offending field"),
    428: _problem_response_doc("The update needs an If-Match header"),
}
"""OpenAPI docs for problem responses: ``APIRouter(responses=PROBLEM_RESPONSES)``."""


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A subset of ``PROBLEM_RESPONSES`` for one route: ``responses=problem_responses(404)``."""
    return {status: PROBLEM_RESPONSES[status] for status in statuses}


class BodySizeLimit:
    """ASGI middleware: 413 problem+json when a request body exceeds ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before the app runs (one within it
    needs nothing more: the server reads no further than the declared length); a streamed
    (chunked) body is counted as it arrives and cut off at the limit, whatever the app then
    replies is replaced by the 413. A request with neither has no body and passes straight
    through. (Starlette's own ``max_body_size`` answers in text/plain.)
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        if max_bytes < 0:
            raise ValueError("max_bytes must not be negative")
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            # The server reads no more than a declared length; nothing to count.
            await self.app(scope, receive, send)
            return
        if not any(k == b"transfer-encoding" for k, _ in scope["headers"]):
            # Neither a length nor a chunked body: the request has no body (a GET, say).
            await self.app(scope, receive, send)
            return

        received = 0
        exceeded = False
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise _BodyTooLargeError
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise _BodyTooLargeError
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if exceeded and not response_started:
                return  # the app's reaction to the cut-off body; the 413 replaces it
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded or response_started:
                raise
        if exceeded and not response_started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = PayloadTooLarge(self.max_bytes).to_response(scope.get("path"))
        await response(scope, receive, send)


class _BodyTooLargeError(Exception):
    """Raised into the app from ``receive`` to stop it reading an oversize body."""


def _summarise(errors: Sequence[FieldError]) -> str:
    if len(errors) == 1:
        return f"{errors[0].field}: {errors[0].message}"
    if len(errors) > MAX_LISTED_ERRORS:
        return _summarise_count(len(errors))
    return f"{len(errors)} fields are invalid; see errors"


def _summarise_count(count: int) -> str:
    return f"{count} fields are invalid; errors lists the first {MAX_LISTED_ERRORS}"


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _kebab(name: str) -> str:
    name = name.removesuffix("Error") or name
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def _sentence(name: str) -> str:
    return _kebab(name).replace("-", " ").capitalize()


def _quotable(text: str) -> str:
    """Keep a header quoted-string simple: no quotes, backslashes or control characters."""
    return "".join(ch for ch in text if ch.isprintable() and ch not in '"\\')
