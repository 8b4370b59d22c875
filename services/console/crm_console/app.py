"""Build the console: settings, the session store, the provider, the services' client, the
pages — nothing at import time — and the uvicorn entry point."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote, urlsplit

import httpx
from crm_kit.app import CorrelationMiddleware, serve
from crm_kit.logs import configure_logging
from crm_kit.security_headers import secured
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pymongo import AsyncMongoClient
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crm_console.apis import ApiProblem, Apis
from crm_console.provider import Provider
from crm_console.sessions import SessionStore
from crm_console.settings import ConsoleSettings
from crm_console.web import (
    analysis,
    auth,
    clients,
    contact_records,
    duplicates,
    editor,
    events,
    programmes,
    proposals,
    questionnaire,
    revisions,
    scheduling,
    work,
)
from crm_console.web.context import Console, Refused, SignInNeeded, console_of

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"


def content_security_policy(provider_origin: str) -> str:
    """Scripts and styles from the console's own files only: no inline script or style, no
    other site; forms post to the console (and sign-out goes on to the provider)."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            "connect-src 'self'",
            f"form-action 'self' {provider_origin}".strip(),
            "frame-ancestors 'none'",
            "base-uri 'none'",
        ]
    )


class ConsoleHeaders:
    """The kit's security headers (nosniff; on HTML: X-Frame-Options DENY) with the console's
    own Content-Security-Policy and ``Referrer-Policy: same-origin``."""

    def __init__(self, app: ASGIApp, csp: str) -> None:
        self.app = app
        self.csp = csp

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"referrer-policy" for k, _ in headers):
                    # Not the kit's no-referrer: under it a browser sends "Origin: null" with a
                    # form's POST, and the console checks that its forms come from itself.
                    # Nothing secret is in the console's addresses; other sites get no referrer.
                    headers.append((b"referrer-policy", b"same-origin"))
                message["headers"] = secured(headers, csp=self.csp)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else ""


def _language(request: Request) -> str:
    return console_of(request).settings.default_language


STATUS_TITLES: Final = {
    400: "The request is not valid.",
    403: "Your roles do not allow this.",
    404: "This page does not exist.",
    405: "This page does not exist.",
}


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, exc: SignInNeeded) -> Response:
        target = f"/signin?next={quote(exc.next_path, safe='')}"
        if request.headers.get("HX-Request") == "true":
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> HTMLResponse:
        return _error_page(request, exc.status, exc.message, roles=sorted(exc.roles))

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> HTMLResponse:
        status = exc.status if 400 <= exc.status < 500 else 502
        return _error_page(request, status, exc.title, problem=exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> HTMLResponse:
        in_path = any(e.get("loc", ("",))[0] == "path" for e in exc.errors())
        status = 404 if in_path else 400
        return _error_page(request, status, STATUS_TITLES[status])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        if request.url.path.startswith("/static/"):
            return Response(status_code=exc.status_code)
        title = STATUS_TITLES.get(exc.status_code, "Something went wrong")
        return _error_page(request, exc.status_code, title)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> HTMLResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_page(request, 500, "Something went wrong")


def _error_page(
    request: Request,
    status: int,
    title: str,
    *,
    problem: ApiProblem | None = None,
    roles: list[str] | None = None,
) -> HTMLResponse:
    console = console_of(request)
    return console.page(
        request,
        "error.html",
        language=getattr(request.state, "language", None) or _language(request),
        status=status,
        title=title,
        problem=problem,
        roles=roles or [],
    )


def create(settings: ConsoleSettings | None = None) -> FastAPI:
    settings = settings or ConsoleSettings()
    configure_logging("console", settings.log_level, settings.log_json)
    if not settings.oidc_issuer:
        raise ValueError("the console needs oidc_issuer (CRM_CONSOLE_OIDC_ISSUER)")
    issuer = settings.oidc_issuer

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            settings.mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        http = httpx.AsyncClient(timeout=settings.api_timeout_s)
        try:
            store = SessionStore(
                mongo[settings.mongo_database],
                ttl_s=settings.session_ttl_s,
                idle_s=settings.session_idle_s,
            )
            await store.create_indexes()
            provider = Provider(
                issuer,
                settings.oidc_client_id,
                settings.redirect_uri,
                http,
                settings.oidc_scope,
                discovery_url=settings.oidc_discovery_url,
            )
            app.state.console = Console(
                settings, store, provider, Apis(http, settings.api_urls()), http
            )
            app.state.mongo = mongo
            yield
        finally:
            await http.aclose()
            await mongo.close()

    app = FastAPI(
        title="CRM console",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    # Templates are known before the lifespan (an error page may be needed early in tests).
    _install_handlers(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # The fixed paths (``/proposals/new``, ``/events/new``) before the ones taking an id.
    for router in (
        auth.router,
        work.router,
        contact_records.router,
        duplicates.router,
        clients.router,
        editor.router,
        revisions.router,
        proposals.router,
        scheduling.router,
        programmes.router,
        events.router,
        questionnaire.router,
        analysis.router,
    ):
        app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            await request.app.state.mongo.admin.command("ping")
            ready = True
        except Exception:  # any failure means not ready
            ready = False
        return JSONResponse({"store": ready}, status_code=200 if ready else 503)

    app.add_middleware(ConsoleHeaders, csp=content_security_policy(_origin(issuer)))
    app.add_middleware(CorrelationMiddleware)
    return app


def main() -> None:
    settings = ConsoleSettings()
    serve(create(settings), settings)
