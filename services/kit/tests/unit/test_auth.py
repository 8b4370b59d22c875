"""Bearer-token authentication seen from an HTTP caller, and the crm-token CLI."""

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import httpx
import jwt
import pytest
from crm_kit.auth import (
    AuthConfigurationError,
    InvalidTokenError,
    Principal,
    TokenVerifier,
    requires,
    sign_token,
)
from crm_kit.problems import install_problem_handlers
from crm_kit.settings import DEV_KEY_MARKER, ServiceSettings
from crm_kit.tokens import main as crm_token
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

ISSUER = "crm-test"
AUDIENCE = "crm"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def _key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return KeyPair(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


@pytest.fixture(scope="module")
def keys() -> KeyPair:
    return _key_pair()


@pytest.fixture(scope="module")
def other_keys() -> KeyPair:
    return _key_pair()


Reader = Annotated[Principal, Depends(requires("contacts:read"))]


def _app(keys: KeyPair) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE)

    @app.get("/clients")
    async def list_clients(caller: Reader) -> dict[str, Any]:
        return {"subject": caller.subject, "scopes": sorted(caller.scopes)}

    @app.post("/clients", dependencies=[Depends(requires("contacts:write"))])
    async def register_client() -> dict[str, str]:
        return {"registered": "yes"}

    return app


@pytest.fixture
async def client(keys: KeyPair) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(keys))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _token(keys: KeyPair, *scopes: str, **overrides: Any) -> str:
    return sign_token(
        keys.private_pem,
        subject=overrides.pop("subject", "billing-app"),
        scopes=scopes,
        issuer=overrides.pop("issuer", ISSUER),
        audience=overrides.pop("audience", AUDIENCE),
        roles=overrides.pop("roles", ("integration",)),
        **overrides,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_claims() -> dict[str, Any]:
    now = int(datetime.now(UTC).timestamp())
    return {
        "sub": "mallory",
        "scope": "contacts:read",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }


def _assert_invalid_token(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["status"] == 401


async def test_a_request_without_a_token_is_401_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/clients")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert body["title"] == "Unauthorized"
    assert body["detail"] == "a bearer token is required"
    assert body["instance"] == "/clients"


async def test_a_non_bearer_authorization_header_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/clients", headers={"Authorization": "Basic dXNlcjpwYXNz"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer <token>" in response.json()["detail"]


async def test_a_bearer_header_holding_garbage_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/clients", headers=_bearer("not.a.jwt"))

    _assert_invalid_token(response)


async def test_a_token_lacking_the_scope_is_403_naming_it(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    response = await client.post("/clients", headers=_bearer(_token(keys, "contacts:read")))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    body = response.json()
    assert "contacts:write" in body["detail"]
    assert body["missing_scopes"] == ["contacts:write"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_an_admin_scope_does_not_grant_other_scopes(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    response = await client.post("/clients", headers=_bearer(_token(keys, "contacts:admin")))

    assert response.status_code == 403


async def test_a_valid_token_with_the_scope_reaches_the_route_as_its_principal(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    token = _token(keys, "contacts:read", "campaigns:read")

    response = await client.get("/clients", headers=_bearer(token))

    assert response.status_code == 200
    assert response.json() == {
        "subject": "billing-app",
        "scopes": ["campaigns:read", "contacts:read"],
    }


async def test_a_route_guarded_by_dependencies_admits_a_token_with_the_scope(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    response = await client.post("/clients", headers=_bearer(_token(keys, "contacts:write")))

    assert response.status_code == 200


async def test_an_expired_token_is_401(client: httpx.AsyncClient, keys: KeyPair) -> None:
    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    token = _token(keys, "contacts:read", now=two_hours_ago, ttl_s=3600)

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)
    assert "expired" in response.json()["detail"]


async def test_a_token_for_another_audience_is_401(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    token = _token(keys, "contacts:read", audience="someone-else")

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)


async def test_a_token_from_another_issuer_is_401(client: httpx.AsyncClient, keys: KeyPair) -> None:
    token = _token(keys, "contacts:read", issuer="evil-issuer")

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)


async def test_an_unsigned_alg_none_token_is_401(client: httpx.AsyncClient) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    claims = _b64(json.dumps(_unsigned_claims()).encode())
    token = f"{header}.{claims}."

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)


async def test_an_hs256_token_keyed_with_the_public_key_is_401(
    client: httpx.AsyncClient, keys: KeyPair
) -> None:
    # The classic key-confusion attack: HMAC "signed" with the verifier's public PEM.
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64(json.dumps(_unsigned_claims()).encode())
    signing_input = f"{header}.{claims}".encode()
    signature = _b64(hmac.new(keys.public_pem, signing_input, hashlib.sha256).digest())
    token = f"{header}.{claims}.{signature}"

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)


async def test_a_token_signed_by_another_key_is_401(
    client: httpx.AsyncClient, other_keys: KeyPair
) -> None:
    response = await client.get("/clients", headers=_bearer(_token(other_keys, "contacts:read")))

    _assert_invalid_token(response)


async def test_a_token_without_a_subject_is_401(client: httpx.AsyncClient, keys: KeyPair) -> None:
    claims = _unsigned_claims()
    del claims["sub"]
    token = jwt.encode(claims, keys.private_pem, algorithm="RS256")

    response = await client.get("/clients", headers=_bearer(token))

    _assert_invalid_token(response)
    assert "sub" in response.json()["detail"]


def test_scopes_come_from_a_scopes_list_as_well(keys: KeyPair) -> None:
    token = _token(keys, "contacts:read", extra_claims={"scopes": ["notify:write"]})

    principal = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE).verify(token)

    assert principal.scopes == {"contacts:read", "notify:write"}
    assert principal.token_id


def test_from_settings_names_a_missing_key_setting() -> None:
    settings = ServiceSettings(jwt_public_key_file=None, oidc_issuer=None)

    with pytest.raises(AuthConfigurationError, match="nor jwt_public_key_file"):
        TokenVerifier.from_settings(settings)


def test_from_settings_names_an_unreadable_key_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    settings = ServiceSettings(jwt_public_key_file=missing)

    with pytest.raises(AuthConfigurationError, match=r"cannot read the JWT public key .*nope\.pem"):
        TokenVerifier.from_settings(settings)


def test_a_minted_token_is_accepted_with_the_requested_scopes(
    tmp_path: Path, keys: KeyPair, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "jwt-private.pem"
    key_file.write_bytes(keys.private_pem)

    status = crm_token(
        [
            "mint",
            "--sub",
            "billing-app",
            "--scope",
            "contacts:read",
            "--scope",
            "contacts:write",
            "--key",
            str(key_file),
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
        ]
    )

    assert status == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE).verify(token)
    assert principal.subject == "billing-app"
    assert principal.scopes == {"contacts:read", "contacts:write"}


def test_mint_takes_the_key_issuer_and_audience_from_the_environment(
    tmp_path: Path,
    keys: KeyPair,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key_file = tmp_path / "jwt-private.pem"
    key_file.write_bytes(keys.private_pem)
    monkeypatch.setenv("CRM_JWT_PRIVATE_KEY_FILE", str(key_file))
    monkeypatch.delenv("CRM_JWT_ISSUER", raising=False)
    monkeypatch.delenv("CRM_JWT_AUDIENCE", raising=False)

    status = crm_token(["mint", "--sub", "ops", "--scope", "notify:read"])

    assert status == 0
    token = capsys.readouterr().out.strip()
    principal = TokenVerifier(keys.public_pem, "crm-local", "crm").verify(token)
    assert principal.scopes == {"notify:read"}


def test_mint_without_a_key_fails_with_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRM_JWT_PRIVATE_KEY_FILE", raising=False)

    status = crm_token(["mint", "--sub", "ops", "--scope", "notify:read"])

    assert status == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0
    assert "CRM_JWT_PRIVATE_KEY_FILE" in captured.err


def test_mint_with_an_unreadable_key_fails_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = crm_token(["mint", "--sub", "ops", "--key", str(tmp_path / "absent.pem")])

    assert status == 2
    assert "cannot read the private key" in capsys.readouterr().err


def test_keygen_writes_a_pair_marked_for_development_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "keys"

    status = crm_token(["keygen", str(directory)])

    assert status == 0
    assert (directory / DEV_KEY_MARKER).is_file()
    assert (directory / "jwt-private.pem").stat().st_mode & 0o077 == 0
    public_pem = (directory / "jwt-public.pem").read_bytes()
    token = sign_token(
        (directory / "jwt-private.pem").read_bytes(),
        subject="ops",
        scopes=["contacts:read"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    assert TokenVerifier(public_pem, ISSUER, AUDIENCE).verify(token).subject == "ops"
    # pydantic wraps the settings' InsecureProductionSettings in its ValidationError.
    with pytest.raises(ValueError, match="production refuses the development key"):
        ServiceSettings(
            environment="production",
            oidc_issuer=None,
            jwt_public_key_file=directory / "jwt-public.pem",
        )


def test_keygen_refuses_to_overwrite_a_pair(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert crm_token(["keygen", str(tmp_path)]) == 0
    before = (tmp_path / "jwt-private.pem").read_bytes()

    status = crm_token(["keygen", str(tmp_path)])

    assert status == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "jwt-private.pem").read_bytes() == before


def test_a_remembered_token_is_refused_once_it_expires(
    keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE, leeway_s=0)
    token = _token(keys, "contacts:read", ttl_s=60)
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    assert verifier.verify(token).subject == "billing-app"
    assert verifier.verify(token).subject == "billing-app"  # the remembered answer

    monkeypatch.setattr("crm_kit.auth.time.time", lambda: exp + 1.0)
    with pytest.raises(InvalidTokenError, match="expired"):
        verifier.verify(token)


def test_a_refused_token_is_not_remembered_and_a_tampered_copy_is_refused(keys: KeyPair) -> None:
    verifier = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE)
    good = _token(keys, "contacts:read")
    assert verifier.verify(good).scopes == {"contacts:read"}

    header, _, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    widened = _b64(json.dumps({**claims, "scope": "contacts:admin"}).encode())
    forged = f"{header}.{widened}.{signature}"
    for _ in range(2):
        with pytest.raises(InvalidTokenError):
            verifier.verify(forged)


def test_the_remembered_tokens_are_bounded(keys: KeyPair) -> None:
    verifier = TokenVerifier(keys.public_pem, ISSUER, AUDIENCE)
    tokens = [
        _token(keys, "contacts:read", subject=f"app-{i}")
        for i in range(TokenVerifier.VERIFIED_CACHE_SIZE + 5)
    ]
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == TokenVerifier.VERIFIED_CACHE_SIZE
    assert tokens[0] not in verifier._verified
    assert tokens[-1] in verifier._verified
