"""Sign a person in at the OpenID Connect provider as a browser does: the authorization-code
flow with PKCE (S256), the provider's own login form, and the code exchanged for tokens.

For tests and scripts that need a real person's token from the real provider (the staff
console does the same through a browser). Only the provider's login page is parsed: a form
whose ``action`` takes ``username`` and ``password``.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

_FORM_ACTION = re.compile(r'<form[^>]*\bid="kc-form-login"[^>]*\baction="([^"]+)"', re.S)


class SignInError(RuntimeError):
    """The provider did not sign the person in (wrong password, a refused client…)."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    id_token: str | None
    refresh_token: str | None
    raw: dict[str, Any]


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge) as RFC 7636 §4.1–4.2 define them."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    return verifier, challenge


async def submit_login_form(
    http: httpx.AsyncClient, page: httpx.Response, username: str, password: str
) -> httpx.Response:
    """Fill in and post the provider's login form shown on ``page`` (fetched with ``http``,
    which holds the provider's session cookies); the answer is the redirect back to the app."""
    if page.status_code != 200:
        raise SignInError(f"the provider did not show its login form: {page.status_code}")
    found = _FORM_ACTION.search(page.text)
    if found is None:
        raise SignInError("the provider's page holds no login form")
    # The provider marks its session cookies Secure; a browser sends them to a loopback
    # address over plain http all the same (a secure context), so do as it does.
    session = "; ".join(f"{c.name}={c.value}" for c in http.cookies.jar)
    return await http.post(
        html.unescape(found.group(1)),
        data={"username": username, "password": password, "credentialId": ""},
        headers={"Cookie": session},
    )


async def sign_in(
    issuer: str,
    username: str,
    password: str,
    *,
    client_id: str = "crm-console",
    redirect_uri: str = "http://127.0.0.1:8000/auth/callback",
    scope: str = "openid",
    http_timeout: float = 30.0,
) -> Tokens:
    """The tokens the provider issues to ``username`` signing in to ``client_id``."""
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    async with httpx.AsyncClient(timeout=http_timeout, follow_redirects=False) as http:
        discovery = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
        page = await http.get(
            discovery["authorization_endpoint"],
            params={
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
        answer = await submit_login_form(http, page, username, password)
        location = answer.headers.get("location", "")
        if answer.status_code not in (302, 303) or not location.startswith(redirect_uri):
            raise SignInError(
                f"{username} was not signed in (the provider answered {answer.status_code})"
            )
        query = parse_qs(urlsplit(location).query)
        if query.get("state") != [state] or "code" not in query:
            raise SignInError(f"the provider's redirect carries no code for this state: {location}")
        exchanged = await http.post(
            discovery["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "client_id": client_id,
                "code": query["code"][0],
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            },
        )
        if exchanged.status_code != 200:
            raise SignInError(
                f"the code was not exchanged: {exchanged.status_code} {exchanged.text}"
            )
        body = exchanged.json()
        return Tokens(body["access_token"], body.get("id_token"), body.get("refresh_token"), body)
