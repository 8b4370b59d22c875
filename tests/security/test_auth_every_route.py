"""Every route of every service, read from its OpenAPI document, refuses bad credentials.

For each operation that authenticates: no token → 401; a token holding every scope of the
service except the route's own → 403; expired, another audience, another issuer, ``alg=none``,
HS256 signed with the public key as the secret, and a token signed by a stranger's RSA key
→ 401; every refusal is problem+json. The operations that serve without a token are exactly
the probes, the documents and the signed-link pages, so a new route that forgets ``requires``
fails here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_kit.auth import sign_token
from crm_kit.problems import PROBLEM_MEDIA_TYPE
from crm_kit.testing import JwtKeys, bearer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .conftest import (
    ALL_OPERATIONS,
    PROTECTED,
    PUBLIC_BY_SERVICE,
    PUBLIC_OPERATIONS,
    SERVICES,
    Operation,
    by_id,
    service_scopes,
)

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _claims(keys: JwtKeys, scopes: frozenset[str]) -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "sub": "attacker",
        "scope": " ".join(sorted(scopes)),
        "iss": keys.issuer,
        "aud": keys.audience,
        "iat": now,
        "exp": now + 3600,
    }


def _unsigned(keys: JwtKeys, scopes: frozenset[str]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(keys, scopes)).encode())
    return f"{header}.{body}."


def _hs256_with_public_key(keys: JwtKeys, scopes: frozenset[str]) -> str:
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64(json.dumps(_claims(keys, scopes)).encode())
    signing_input = f"{header}.{body}".encode()
    signature = hmac.new(keys.public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(signature)}"


_STRANGER = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)


def _signed(keys: JwtKeys, scopes: frozenset[str], **kw: Any) -> str:
    return sign_token(
        kw.pop("key", keys.private_pem),
        subject="attacker",
        scopes=scopes,
        issuer=kw.pop("issuer", keys.issuer),
        audience=kw.pop("audience", keys.audience),
        **kw,
    )


BAD_TOKENS: dict[str, Callable[[JwtKeys, frozenset[str]], str]] = {
    "expired": lambda k, s: _signed(k, s, now=datetime.now(UTC) - timedelta(hours=2), ttl_s=3600),
    "wrong audience": lambda k, s: _signed(k, s, audience="another-system"),
    "wrong issuer": lambda k, s: _signed(k, s, issuer="someone-else"),
    "alg=none": _unsigned,
    "HS256 with the public key": _hs256_with_public_key,
    "a stranger's RSA key": lambda k, s: _signed(k, s, key=_STRANGER),
    "garbage": lambda k, s: "not-a-jwt",
}


def _is_problem(response: Any, status: int) -> str | None:
    """Why ``response`` is not a ``status`` problem+json, or ``None`` if it is."""
    if response.status_code != status:
        return f"status {response.status_code}, not {status}: {response.text[:200]}"
    if response.headers.get("content-type", "").split(";")[0] != PROBLEM_MEDIA_TYPE:
        return f"content-type {response.headers.get('content-type')!r}"
    body = response.json()
    if body.get("status") != status or not body.get("title"):
        return f"not a problem document: {body}"
    return None


def test_the_only_routes_without_a_token_are_probes_documents_and_signed_links() -> None:
    for service in SERVICES:
        public = {(op.method, op.path) for op in ALL_OPERATIONS if op.service == service}
        public -= {(op.method, op.path) for op in PROTECTED if op.service == service}
        assert public == PUBLIC_OPERATIONS | PUBLIC_BY_SERVICE.get(service, set()), service


@pytest.mark.parametrize("op", list(by_id(PROTECTED)))
def test_the_openapi_document_declares_the_bearer_token(op: Operation) -> None:
    # With the scopes the route's ``requires(...)`` checks (OpenAPI 3.1 lets a non-OAuth
    # scheme list them) and the roles of crm_kit.access (x-roles).
    assert op.spec.get("security") == [{"HTTPBearer": sorted(op.scopes or ())}]
    assert op.spec.get("x-roles"), op.id
    assert {"401", "403"} <= set(op.spec["responses"])


async def _refusals(
    op: Operation, services: dict[str, Any], keys: JwtKeys, if_match: str | None
) -> list[str]:
    """What went wrong with each bad credential on ``op`` (empty when every one is refused)."""
    api = services[op.service].api
    url = op.url()
    failures: list[str] = []
    precondition = {"If-Match": if_match} if if_match is not None else {}

    async def check(case: str, headers: dict[str, str], status: int) -> None:
        response = await api.request(op.method, url, headers=precondition | headers)
        why = _is_problem(response, status)
        if why is None and status == 401:
            challenge = response.headers.get("www-authenticate", "")
            why = None if challenge.startswith("Bearer") else f"challenge {challenge!r}"
        if why is not None:
            failures.append(f"{case}: {why}")

    await check("no token", {}, 401)
    await check("not a bearer scheme", {"Authorization": "Basic dXNlcjpwYXNz"}, 401)
    assert op.scopes is not None
    others = service_scopes(op.service) - op.scopes
    if op.scopes:
        await check(f"token with {sorted(others)} only", bearer(keys, *sorted(others)), 403)
    full = service_scopes(op.service)
    for case, make in BAD_TOKENS.items():
        await check(case, {"Authorization": f"Bearer {make(keys, full)}"}, 401)
    return failures


@pytest.mark.parametrize("op", list(by_id(PROTECTED)))
async def test_every_protected_route_refuses_bad_credentials(
    op: Operation, services: dict[str, Any], jwt_keys: JwtKeys
) -> None:
    # A well-formed If-Match goes along, so a route's precondition check cannot answer first.
    failures = await _refusals(op, services, jwt_keys, if_match='"1"')
    assert not failures, f"{op.id}:\n  " + "\n  ".join(failures)


NEEDS_IF_MATCH = [
    op
    for op in PROTECTED
    if any(p["in"] == "header" and p["name"] == "if-match" for p in op.spec.get("parameters", []))
]


@pytest.mark.parametrize("op", list(by_id(NEEDS_IF_MATCH)))
async def test_credentials_are_checked_before_the_if_match_precondition(
    op: Operation, services: dict[str, Any], jwt_keys: JwtKeys
) -> None:
    """An anonymous caller learns nothing about a route's preconditions: 401 comes first."""
    failures = await _refusals(op, services, jwt_keys, if_match=None)
    assert not failures, f"{op.id}:\n  " + "\n  ".join(failures)
