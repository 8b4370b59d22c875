"""Tokens of an OpenID Connect provider, checked through its JWKS (the provider is an
in-memory fake here, an httpx mock transport or a tiny HTTP server on 127.0.0.1; the real
Keycloak is in the stack's tests)."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from crm_kit.auth import InvalidTokenError, Principal, TokenVerifier, requires
from crm_kit.oidc import KeysUnavailable, ProviderKeys
from crm_kit.problems import install_problem_handlers
from crm_kit.settings import ServiceSettings
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from pydantic import ValidationError

ISSUER = "https://id.example.com/realms/crm"
AUDIENCE = "crm"


@dataclass
class FakeProvider:
    """Serves a discovery document and a JWKS; counts how often each is read."""

    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    issuer_in_document: str = ISSUER
    jwks_uri: str = f"{ISSUER}/protocol/openid-connect/certs"
    reachable_at: str | None = None
    """Only this origin answers (a provider the public address does not reach); None: any."""
    up: bool = True
    reads: int = 0
    asked: list[str] = field(default_factory=list)

    def rotate(self, kid: str) -> None:
        self.keys = {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048)}

    def add(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def handle(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        if not self.up or (self.reachable_at is not None and origin != self.reachable_at):
            raise httpx.ConnectError("connection refused", request=request)
        self.asked.append(str(request.url))
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(
                200, json={"issuer": self.issuer_in_document, "jwks_uri": self.jwks_uri}
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


def keys_of(
    provider: FakeProvider, discovery_url: str | None = None, **options: float
) -> ProviderKeys:
    client = httpx.AsyncClient(transport=httpx.MockTransport(provider.handle))
    return ProviderKeys(ISSUER, discovery_url=discovery_url, client=client, **options)


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


# --- a provider reached on another address than its issuer's (compose, a cluster) ---

INSIDE = "http://keycloak:8080"


async def test_keys_are_read_through_the_discovery_url_when_the_issuer_is_out_of_reach() -> None:
    provider = FakeProvider(reachable_at=INSIDE)
    provider.rotate("k1")
    keys = keys_of(provider, f"{INSIDE}/realms/crm")
    verifier = TokenVerifier(None, "crm-local", AUDIENCE, providers=[keys])

    principal = await verifier.verify_async(provider.token("k1"))

    assert principal.claims["iss"] == ISSUER
    assert provider.asked == [
        f"{INSIDE}/realms/crm/.well-known/openid-configuration",
        f"{INSIDE}/realms/crm/protocol/openid-connect/certs",
    ]


async def test_a_jwks_uri_the_provider_already_gives_inside_is_read_as_named() -> None:
    # Keycloak with hostname-backchannel-dynamic answers back-channel calls on the caller's host.
    provider = FakeProvider(
        reachable_at=INSIDE, jwks_uri=f"{INSIDE}/realms/crm/protocol/openid-connect/certs"
    )
    provider.rotate("k1")
    keys = keys_of(provider, f"{INSIDE}/realms/crm/.well-known/openid-configuration")

    await TokenVerifier(None, "x", AUDIENCE, providers=[keys]).verify_async(provider.token("k1"))

    assert provider.asked[-1] == f"{INSIDE}/realms/crm/protocol/openid-connect/certs"


async def test_a_document_read_inside_must_still_name_the_public_issuer() -> None:
    # The discovery URL says where to ask, not whom to trust: a provider that calls itself
    # by its inside address (no public hostname configured) is refused.
    provider = FakeProvider(reachable_at=INSIDE, issuer_in_document=f"{INSIDE}/realms/crm")
    provider.rotate("k1")
    verifier = TokenVerifier(
        None, "x", AUDIENCE, providers=[keys_of(provider, f"{INSIDE}/realms/crm")]
    )

    with pytest.raises(KeysUnavailable, match=r"through http://keycloak:8080/realms/crm.*issuer"):
        await verifier.verify_async(provider.token("k1"))


@pytest.mark.parametrize(
    ("named", "read"),
    [
        # under the issuer: the same path under the discovery URL's base
        (
            f"{ISSUER}/protocol/openid-connect/certs",
            f"{INSIDE}/realms/crm/protocol/openid-connect/certs",
        ),
        # elsewhere on the issuer's host: the same path on the discovery URL's host
        ("https://id.example.com/keys/crm.json", f"{INSIDE}/keys/crm.json"),
        ("HTTPS://ID.example.com/keys", f"{INSIDE}/keys"),
        # another host (already inside, or a key host of its own): as named
        (
            f"{INSIDE}/realms/crm/protocol/openid-connect/certs",
            f"{INSIDE}/realms/crm/protocol/openid-connect/certs",
        ),
        ("https://keys.example.net/crm", "https://keys.example.net/crm"),
        # a look-alike of the issuer's host is another host
        (
            "https://id.example.com.evil.example/realms/crm/certs",
            "https://id.example.com.evil.example/realms/crm/certs",
        ),
    ],
)
def test_the_jwks_uri_is_moved_onto_the_discovery_urls_base_only_from_the_issuers_host(
    named: str, read: str
) -> None:
    keys = ProviderKeys(ISSUER, discovery_url=f"{INSIDE}/realms/crm/")

    assert keys.inside_address(named) == read


def test_without_a_discovery_url_the_issuers_own_address_is_used_as_named() -> None:
    keys = ProviderKeys(ISSUER + "/")

    assert keys.discovery_url == f"{ISSUER}/.well-known/openid-configuration"
    assert keys.inside_address(f"{ISSUER}/certs") == f"{ISSUER}/certs"


class ServedProvider(ThreadingHTTPServer):
    """A tiny HTTP server on 127.0.0.1 answering as a :class:`FakeProvider`."""

    def __init__(self, provider: FakeProvider) -> None:
        outer = provider

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                host = self.headers["Host"]
                answer = outer.handle(httpx.Request("GET", f"http://{host}{self.path}"))
                self.send_response(answer.status_code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def served() -> Iterator[tuple[FakeProvider, str]]:
    provider = FakeProvider()
    provider.rotate("k1")
    server = ServedProvider(provider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider, server.url
    finally:
        server.shutdown()
        server.server_close()


async def test_the_settings_discovery_url_reaches_a_provider_the_issuer_does_not(
    served: tuple[FakeProvider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    provider, url = served
    # The issuer's host does not resolve (.invalid); only the discovery URL leads anywhere.
    provider.issuer_in_document = "https://id.invalid/realms/crm"
    provider.jwks_uri = "https://id.invalid/realms/crm/protocol/openid-connect/certs"
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("CRM_OIDC_ISSUER", "https://id.invalid/realms/crm")
    monkeypatch.setenv("CRM_OIDC_DISCOVERY_URL", f"{url}/realms/crm")
    verifier = TokenVerifier.from_settings(ServiceSettings())

    principal = await verifier.verify_async(
        provider.token("k1", issuer="https://id.invalid/realms/crm")
    )

    assert principal.subject == "f3c1-employee"
    assert provider.asked[-1] == f"{url}/realms/crm/protocol/openid-connect/certs"


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        ({"oidc_discovery_url": "http://keycloak:8080/realms/crm"}, "without the oidc_issuer"),
        ({"oidc_issuer": ISSUER, "oidc_discovery_url": "keycloak:8080"}, "http"),
        (
            {
                "environment": "production",
                "oidc_issuer": ISSUER,
                "oidc_discovery_url": "http://keycloak:8080/realms/crm",
            },
            "https only",
        ),
    ],
)
def test_a_discovery_url_is_refused_without_an_issuer_a_scheme_or_in_production_over_http(
    values: dict[str, str], refusal: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only these values: the shell's stack variables (`crm-stack env`) must not leak in.
    for key in [k for k in os.environ if k.startswith("CRM_")]:
        monkeypatch.delenv(key)
    with pytest.raises(ValidationError, match=refusal):
        ServiceSettings(**values)  # type: ignore[arg-type]


def test_an_empty_discovery_url_means_the_issuers_own_address() -> None:
    settings = ServiceSettings(oidc_issuer=ISSUER, oidc_discovery_url="")

    assert settings.oidc_discovery_url is None


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
