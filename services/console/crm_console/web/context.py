"""What every page handler works with: the signed-in person's visit (session, token, language,
the APIs) and the checks made before a route runs (signed in, CSRF on every POST, the route's
roles from :mod:`crm_console.access`)."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, Request
from fastapi import Path as InPath
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from crm_console import access, i18n
from crm_console.apis import Answer, ApiProblem, Apis, Params
from crm_console.provider import Provider, RefreshFailed
from crm_console.sessions import Session, SessionStore
from crm_console.settings import ConsoleSettings

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
COOKIE_INSECURE = "crm_console"
COOKIE_SECURE = "__Host-crm_console"
"""Over https the cookie takes the ``__Host-`` prefix: Secure, path ``/``, no domain."""
SIGNIN_COOKIE = "crm_console_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_MARGIN = timedelta(seconds=30)


class SignInNeeded(Exception):
    """No session (or it ended): the person is sent to sign in, then back to ``next_path``."""

    def __init__(self, next_path: str = "/") -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Refused(Exception):
    """The console refuses the request itself (CSRF, a role the route needs)."""

    def __init__(self, status: int, message: str, roles: frozenset[str] = frozenset()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.roles = roles


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Console:
    """What the app holds for its lifetime (``app.state.console``)."""

    settings: ConsoleSettings
    store: SessionStore
    provider: Provider
    apis: Apis
    http: httpx.AsyncClient
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.templates = Jinja2Templates(env=env)

    @property
    def cookie_name(self) -> str:
        return COOKIE_SECURE if self.settings.secure_cookies else COOKIE_INSECURE

    def page(
        self,
        request: Request,
        template: str,
        *,
        language: str,
        status: int = 200,
        session: Session | None = None,
        **context: Any,
    ) -> HTMLResponse:
        response = self.templates.TemplateResponse(
            request,
            template,
            {
                "_": i18n.translator(language),
                "fmt": i18n.Formats(language),
                "language": language,
                "languages": i18n.LANGUAGE_NAMES,
                "session": session,
                "person": session.person if session else None,
                "csrf": session.csrf if session else "",
                **context,
            },
            status_code=status,
        )
        response.headers["Cache-Control"] = "no-store"
        return response


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


@dataclass
class Visit:
    """One request of a signed-in person."""

    request: Request
    console: Console
    session: Session
    flash: list[str] = field(default_factory=list)

    @property
    def person(self) -> Any:
        return self.session.person

    @property
    def language(self) -> str:
        return self.session.language

    def _(self, text: str) -> str:
        return i18n.translator(self.language)(text)

    def may(self, method: str, path: str) -> bool:
        """Whether the person's roles allow the console route ``METHOD path``."""
        return access.allows(method, path, self.person.roles)

    async def token(self) -> str:
        """The access token, renewed at the provider when it is about to expire."""
        tokens = self.session.tokens
        if tokens.access_expires_at - REFRESH_MARGIN > now():
            return tokens.access_token
        try:
            renewed = await self.console.provider.refresh(tokens, now())
        except RefreshFailed as exc:
            await self.console.store.end(self.session)
            raise SignInNeeded(self.request.url.path) from exc
        self.session = await self.console.store.replace_tokens(self.session, renewed, now())
        return renewed.access_token

    async def get(self, service: str, path: str, params: Params | None = None) -> Any:
        return await self._retrying(lambda t: self.console.apis.get(t, service, path, params))

    async def call(self, method: str, service: str, path: str, **kwargs: Any) -> Answer:
        answer: Answer = await self._retrying(
            lambda t: self.console.apis.call(t, method, service, path, **kwargs)
        )
        return answer

    async def _retrying(self, call: Any) -> Any:
        try:
            return await call(await self.token())
        except ApiProblem as problem:
            if problem.status != 401:
                raise
        # The provider may have ended the token early (a revocation, a clock apart): renew
        # once; a second 401 means the session is over.
        try:
            renewed = await self.console.provider.refresh(self.session.tokens, now())
        except RefreshFailed as exc:
            await self.console.store.end(self.session)
            raise SignInNeeded(self.request.url.path) from exc
        self.session = await self.console.store.replace_tokens(self.session, renewed, now())
        return await call(renewed.access_token)

    def page(self, template: str, *, status: int = 200, **context: Any) -> HTMLResponse:
        return self.console.page(
            self.request,
            template,
            language=self.language,
            status=status,
            session=self.session,
            flash=self.flash,
            may=self.may,
            **context,
        )


async def signed_in(request: Request) -> Visit:
    console = console_of(request)
    cookie = request.cookies.get(console.cookie_name)
    wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not cookie:
        raise SignInNeeded(wanted if request.method == "GET" else "/")
    session = await console.store.find(cookie, now())
    if session is None:
        raise SignInNeeded(wanted if request.method == "GET" else "/")
    request.state.language = session.language
    if request.method not in ("GET", "HEAD"):
        await _check_csrf(request, console, session)
    route = request.scope.get("route")
    template = getattr(route, "path_format", request.url.path)
    roles = access.roles_for(request.method, template)
    if roles is None or session.person.roles.isdisjoint(roles):
        raise Refused(
            403,
            "Your roles do not allow this.",
            roles or frozenset(),
        )
    session = await console.store.touch(session, now())
    flash = await console.store.take_flash(session) if request.method == "GET" else []
    return Visit(request, console, session, flash)


async def _check_csrf(request: Request, console: Console, session: Session) -> None:
    origin = request.headers.get("origin")
    if origin is not None and origin != console.settings.origin:
        raise Refused(403, "The form has expired. Reload the page and try again.")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Refused(403, "The form has expired. Reload the page and try again.")


SignedIn = Annotated[Visit, Depends(signed_in)]

Id = Annotated[str, InPath(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")]
"""An id in a console path, passed on into a service's path: never a ``/`` nor a ``..``."""


async def gather(*calls: Awaitable[Any]) -> list[Any]:
    """The calls' results, at once; a service's refusal or failure takes the place of its
    result as an :class:`ApiProblem` (so one failing panel does not blank the page), and
    anything else (the session ended, a bug) is raised."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, ApiProblem):
            raise result
    return list(results)


def problems_in(results: list[Any]) -> list[ApiProblem]:
    return [r for r in results if isinstance(r, ApiProblem)]


def ok(result: Any, default: Any) -> Any:
    return default if isinstance(result, ApiProblem) else result
