"""The OpenID Connect provider as the console's public client sees it: the authorization-code
flow with PKCE (S256), the refresh of a session's tokens, and sign-out at the provider.

The ID token is checked (signature by the provider's JWKS through ``crm_kit.oidc``, issuer,
audience = this client, nonce = the one this sign-in sent); the access token came from the
provider's token endpoint over the back channel and is handed on to the services, which check
it themselves. The person's roles are read from the access token (``realm_access.roles``), as
the services read them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from crm_kit.access import STAFF
from crm_kit.oidc import ProviderKeys, UnknownSigningKey
from crm_kit.signin import pkce_pair

from crm_console.sessions import Person, Tokens


class SignInFailed(Exception):
    """The provider did not sign the person in, or its answer did not check out."""


class RefreshFailed(Exception):
    """The session's tokens could not be renewed: the person signs in again."""


@dataclass(frozen=True)
class Authorization:
    url: str
    state: str
    verifier: str
    nonce: str


class Provider:
    def __init__(
        self,
        issuer: str,
        client_id: str,
        redirect_uri: str,
        http: httpx.AsyncClient,
        scope: str,
        *,
        discovery_url: str | None = None,
    ) -> None:
        """``discovery_url``: where the console itself reaches the provider when that is not
        the issuer's public address (``CRM_OIDC_DISCOVERY_URL``, e.g. inside a cluster). The
        browser is still sent to the public authorization and sign-out endpoints; the token
        endpoint and the keys are called at the inside address."""
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.http = http
        self.keys = ProviderKeys(self.issuer, discovery_url=discovery_url, client=http)
        self._discovery: dict[str, Any] | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            answer = await self.http.get(self.keys.discovery_url)
            answer.raise_for_status()
            document = answer.json()
            if document.get("issuer") != self.issuer:
                raise SignInFailed(f"the provider names the issuer {document.get('issuer')!r}")
            self._discovery = document
        return self._discovery

    async def authorization(self) -> Authorization:
        verifier, challenge = pkce_pair()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        endpoint = (await self.discovery())["authorization_endpoint"]
        query = urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "redirect_uri": self.redirect_uri,
                "scope": self.scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return Authorization(f"{endpoint}?{query}", state, verifier, nonce)

    async def exchange(
        self, code: str, verifier: str, nonce: str, now: datetime
    ) -> tuple[Person, Tokens]:
        body = await self._token_call(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            SignInFailed,
        )
        id_token = body.get("id_token")
        if not isinstance(id_token, str):
            raise SignInFailed("the provider returned no ID token")
        identity = await self._check_id_token(id_token, nonce)
        tokens = _tokens(body, now)
        return person_of(identity, _claims(tokens.access_token)), tokens

    async def refresh(self, tokens: Tokens, now: datetime) -> Tokens:
        if tokens.refresh_token is None:
            raise RefreshFailed("the session holds no refresh token")
        body = await self._token_call(
            {
                "grant_type": "refresh_token",
                "client_id": self.client_id,
                "refresh_token": tokens.refresh_token,
            },
            RefreshFailed,
        )
        renewed = _tokens(body, now)
        if renewed.id_token is None:
            renewed = Tokens(
                renewed.access_token,
                renewed.access_expires_at,
                renewed.refresh_token or tokens.refresh_token,
                renewed.refresh_expires_at,
                tokens.id_token,
            )
        return renewed

    async def end_session_url(self, id_token: str | None, after: str) -> str | None:
        """Where the browser goes to end the provider's own session, then back to ``after``."""
        try:
            endpoint = (await self.discovery()).get("end_session_endpoint")
        except (httpx.HTTPError, SignInFailed):
            return None
        if not isinstance(endpoint, str):
            return None
        query: dict[str, str] = {"client_id": self.client_id, "post_logout_redirect_uri": after}
        if id_token:
            query["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(query)}"

    async def _token_call(self, form: dict[str, str], error: type[Exception]) -> dict[str, Any]:
        try:
            endpoint = self.keys.inside_address((await self.discovery())["token_endpoint"])
            answer = await self.http.post(endpoint, data=form)
        except httpx.HTTPError as exc:
            raise error(f"the provider could not be reached: {exc}") from exc
        if answer.status_code != 200:
            raise error(f"the provider refused ({answer.status_code}): {answer.text[:300]}")
        body = answer.json()
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise error("the provider's answer holds no access token")
        return body

    async def _check_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
            key = await self.keys.key_for(kid if isinstance(kid, str) else None)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                issuer=self.issuer,
                audience=self.client_id,
                leeway=30,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, UnknownSigningKey) as exc:
            raise SignInFailed(f"the ID token did not check out: {exc}") from exc
        if claims.get("nonce") != nonce:
            raise SignInFailed("the ID token was not issued for this sign-in (nonce)")
        return claims


def _claims(token: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise SignInFailed(f"the access token is not a JWT: {exc}") from exc
    return claims


def _tokens(body: dict[str, Any], now: datetime) -> Tokens:
    refresh_in = body.get("refresh_expires_in")
    return Tokens(
        access_token=body["access_token"],
        access_expires_at=now + timedelta(seconds=int(body.get("expires_in", 60))),
        refresh_token=body.get("refresh_token"),
        refresh_expires_at=(
            now + timedelta(seconds=int(refresh_in))
            if isinstance(refresh_in, int) and refresh_in > 0
            else None
        ),
        id_token=body.get("id_token"),
    )


def person_of(identity: dict[str, Any], access: dict[str, Any]) -> Person:
    """The person as the console shows them: name from the ID token, roles and employee from
    the access token (what the services will see)."""
    realm = access.get("realm_access")
    roles = realm.get("roles", []) if isinstance(realm, dict) else []
    employee = access.get("employee_id") or identity.get("employee_id")
    department = access.get("department") or identity.get("department")
    username = str(identity.get("preferred_username") or identity["sub"])
    return Person(
        subject=str(identity["sub"]),
        username=username,
        name=str(identity.get("name") or username),
        roles=frozenset(r for r in roles if isinstance(r, str) and r in STAFF),
        employee_id=str(employee) if employee else None,
        department=str(department) if department else None,
        locale=str(locale) if (locale := identity.get("locale") or access.get("locale")) else None,
    )
