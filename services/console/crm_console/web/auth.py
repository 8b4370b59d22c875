"""Signing in (code flow with PKCE at the provider), signing out, and the person's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crm_console import i18n
from crm_console.provider import SignInFailed
from crm_console.sessions import PendingSignIn, digest, new_secret
from crm_console.web.context import SIGNIN_COOKIE, SignedIn, console_of, now

router = APIRouter()


def _safe_next(value: str | None) -> str:
    """Only a path of this console: never another site (an open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value[:2000]


@router.get("/signin", response_model=None)
async def sign_in(request: Request, next: str | None = None) -> Response:
    console = console_of(request)
    try:
        authorization = await console.provider.authorization()
    except Exception as exc:  # the provider is down: say so instead of failing
        return console.page(
            request,
            "signin.html",
            language=console.settings.default_language,
            status=503,
            problem=f"The sign-in service cannot be reached ({type(exc).__name__}).",
        )
    browser = new_secret()
    await console.store.begin_sign_in(
        PendingSignIn(
            state=authorization.state,
            verifier=authorization.verifier,
            nonce=authorization.nonce,
            browser=digest(browser),
            next_path=_safe_next(next),
            expires_at=now() + timedelta(seconds=console.settings.signin_ttl_s),
        )
    )
    response = RedirectResponse(authorization.url, status_code=303)
    response.set_cookie(
        SIGNIN_COOKIE,
        browser,
        max_age=console.settings.signin_ttl_s,
        path="/auth/callback",
        secure=console.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    return response


@router.get("/auth/callback", response_model=None)
async def callback(
    request: Request,
    state: str | None = None,
    code: str | None = None,
    error: str | None = None,
) -> Response:
    console = console_of(request)
    language = console.settings.default_language
    pending = await console.store.take_sign_in(state, now()) if state else None
    browser = request.cookies.get(SIGNIN_COOKIE)
    if pending is None or browser is None or digest(browser) != pending.browser:
        return console.page(
            request,
            "signin.html",
            language=language,
            status=400,
            problem="This sign-in has expired or was started elsewhere. Please sign in again.",
        )
    if error or not code:
        return console.page(
            request,
            "signin.html",
            language=language,
            status=400,
            problem=f"The sign-in service did not sign you in ({error or 'no code'}).",
        )
    try:
        person, tokens = await console.provider.exchange(
            code, pending.verifier, pending.nonce, now()
        )
    except SignInFailed as exc:
        return console.page(request, "signin.html", language=language, status=400, problem=str(exc))
    if not person.roles:
        return console.page(
            request,
            "signin.html",
            language=language,
            status=403,
            problem=f"{person.username} holds no staff role of the CRM.",
        )
    chosen = await console.store.preferred_language(person.subject)
    lang = chosen or (person.locale if person.locale in i18n.LANGUAGES else language)
    cookie, _ = await console.store.create(person, tokens, lang, now())
    response = RedirectResponse(pending.next_path, status_code=303)
    response.set_cookie(
        console.cookie_name,
        cookie,
        max_age=console.settings.session_ttl_s,
        path="/",
        secure=console.settings.secure_cookies,
        httponly=True,
        samesite="lax",
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/auth/callback")
    return response


@router.post("/signout", response_model=None)
async def sign_out(visit: SignedIn) -> Response:
    console = visit.console
    await console.store.end(visit.session)
    after = f"{console.settings.public_url.rstrip('/')}/signed-out"
    target = await console.provider.end_session_url(visit.session.tokens.id_token, after)
    response = RedirectResponse(target or "/signed-out", status_code=303)
    response.delete_cookie(
        console.cookie_name, path="/", secure=console.settings.secure_cookies, httponly=True
    )
    return response


@router.get("/signed-out", response_class=HTMLResponse)
async def signed_out(request: Request) -> HTMLResponse:
    console = console_of(request)
    return console.page(
        request,
        "signin.html",
        language=console.settings.default_language,
        message="You have signed out.",
    )


@router.post("/settings/language", response_model=None)
async def set_language(
    visit: SignedIn,
    language: Annotated[str, Form(max_length=8)],
    back: Annotated[str, Form()] = "/",
) -> Response:
    if language in i18n.LANGUAGES:
        await visit.console.store.set_language(visit.session, language)
    return RedirectResponse(_safe_next(back), status_code=303)
