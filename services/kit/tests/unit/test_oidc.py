"""Tokens of an OpenID Connect provider, checked through its JWKS (the provider is an
in-memory fake here, an httpx mock transport; the real Keycloak is in the stack's tests)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
import jwt
import pytest
from crm_kit.auth import InvalidTokenError, Principal, TokenVerifier, requires
from crm_kit.oidc import KeysUnavailable, ProviderKeys
from crm_kit.problems import install_problem_handlers
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

ISSUER = "https://id.example.com/realms/crm"
AUDIENCE = "crm"


@dataclass
class FakeProvider:
    """Serves a discovery document and a JWKS; counts how often each is read."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    issuer_in_document: str = ISSUER
    up: bool = True
    reads: int = 0

    def rotate(self, kid: str) -> None:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)}

    def add(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200,
                json={
                    "issuer": self.issuer_in_document,
                    "jwks_uri": f"{ISSUER}/protocol/openid-connect/certs",
                },
            )
        self.reads += 1
        jwks = []
        for kid, key in self.keys.items():
            public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwks.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        # Keycloak also publishes an encryption key; it must be ignored, not fail the set.
        jwks.append({**jwks[0], "kid": "enc-1", "use": "enc", "alg": "RSA-OAEP"} if jwks else {})
        return httpx.Response(200, json={"keys": [k for k in jwks if k]})

    def token(self, kid: str, *, issuer: str = ISSUER, **claims: Any) -> str:
        now = int(time.time())
        body = {
            "iss": issuer,
            "aud": AUDIENCE,
            "sub": "f3c1-employee",
            "iat": now,
            "exp": now + 300,
            "scope": "openid profile contacts:read",
            "realm_access": {"roles": ["sales", "event-staff"]},
            **claims,
        }
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


def keys_of(provider: FakeProvider, **options: float) -> ProviderKeys:
    client = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    return ProviderKeys(ISSUER, client=client, **options)


def verifier_of(provider: FakeProvider, **options: float) -> TokenVerifier:
    return TokenVerifier(None, "crm-local", AUDIENCE, providers=[keys_of(provider, **options)])


async def test_a_providers_token_names_the_person_their_scopes_and_roles() -> None:
    provider = FakeProvider()
    provider.rotate("k1")

    principal = await verifier_of(provider).verify_async(provider.token("k1"))

    assert principal.subject == "f3c1-employee"
    assert "contacts:read" in principal.scopes
    assert principal.roles == {"sales", "event-staff"}


async def test_a_rotated_signing_key_is_picked_up_without_a_restart() -> None:
    provider = FakeProvider()
    provider.rotate("k1")
    verifier = verifier_of(provider, min_refresh_s=0)
    await verifier.verify_async(provider.token("k1"))

    provider.rotate("k2")
    principal = await verifier.verify_async(provider.token("k2"))

    assert principal.subject == "f3c1-employee"
    assert provider.reads == 2


async def test_made_up_key_ids_do_not_flood_the_provider() -> None:
    provider = FakeProvider()
    provider.rotate("k1")
    verifier = verifier_of(provider, min_refresh_s=60)
    await verifier.verify_async(provider.token("k1"))
    provider.add("forged")

    for _ in range(20):
        with pytest.raises(InvalidTokenError, match="signing key 'forged'"):
            await verifier.verify_async(provider.token("forged", jti=str(_)))

    assert provider.reads == 1


async def test_a_withdrawn_key_stops_being_accepted_once_the_set_is_old() -> None:
    provider = FakeProvider()
    provider.rotate("k1")
    keys = keys_of(provider, min_refresh_s=0, max_age_s=0)
    verifier = TokenVerifier(None, "crm-local", AUDIENCE, providers=[keys])
    old = provider.token("k1")
    await verifier.verify_async(provider.token("k1", jti="first"))

    provider.rotate("k2")

    with pytest.raises(InvalidTokenError, match="signing key 'k1'"):
        await verifier.verify_async(old)


async def test_a_token_of_another_issuer_is_refused() -> None:
    provider = FakeProvider()
    provider.rotate("k1")

    with pytest.raises(InvalidTokenError, match="issuer"):
        await verifier_of(provider).verify_async(
            provider.token("k1", issuer="https://evil.example.com/realms/crm")
        )


async def test_a_discovery_document_naming_another_issuer_is_not_trusted() -> None:
    provider = FakeProvider(issuer_in_document="https://evil.example.com/realms/crm")
    provider.rotate("k1")

    with pytest.raises(KeysUnavailable, match="names the issuer"):
        await verifier_of(provider).verify_async(provider.token("k1"))


async def test_keys_already_read_are_kept_while_the_provider_is_away() -> None:
    provider = FakeProvider()
    provider.rotate("k1")
    verifier = verifier_of(provider, min_refresh_s=0, max_age_s=0)
    await verifier.verify_async(provider.token("k1", jti="a"))
    provider.up = False

    principal = await verifier.verify_async(provider.token("k1", jti="b"))

    assert principal.subject == "f3c1-employee"


Reader = Annotated[Principal, Depends(requires("contacts:read"))]


def app_with(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/clients")
    async def list_clients(caller: Reader) -> dict[str, Any]:
        return {"subject": caller.subject, "roles": sorted(caller.roles)}

    return app


async def call(app: FastAPI, token: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/clients", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    ("breaks", "status"),
    [
        (lambda p: setattr(p, "up", False), 503),
        (lambda p: None, 200),
    ],
)
async def test_a_provider_that_cannot_be_reached_is_a_503_not_a_401(
    breaks: Callable[[FakeProvider], None], status: int
) -> None:
    provider = FakeProvider()
    provider.rotate("k1")
    breaks(provider)

    answer = await call(app_with(verifier_of(provider)), provider.token("k1"))

    assert answer.status_code == status
    if status == 503:
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["retry-after"] == "5"
        assert answer.json()["type"].endswith("token-keys-unavailable")
    else:
        assert answer.json() == {"subject": "f3c1-employee", "roles": ["event-staff", "sales"]}
