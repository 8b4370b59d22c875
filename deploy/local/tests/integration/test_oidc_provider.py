"""The stack's OpenID Connect provider (Keycloak with the CRM realm) issues tokens the
services accept: a back-office app signs in with client credentials, and the kit checks the
token through the provider's real JWKS."""

from __future__ import annotations

import os

import httpx
import pytest
from crm_kit.auth import TokenVerifier
from crm_kit.settings import ServiceSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

BACKOFFICE = ("crm-backoffice", "dev-only-crm-backoffice-secret")


@pytest.fixture(scope="module")
def issuer() -> str:
    value = os.environ.get("CRM_OIDC_ISSUER")
    assert value, "CRM_OIDC_ISSUER is not set: start the stack and eval `crm-stack env`"
    return value


async def client_credentials(issuer: str, client_id: str, secret: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as http:
        discovery = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
        return await http.post(
            discovery["token_endpoint"],
            data={"grant_type": "client_credentials", "client_id": client_id},
            auth=(client_id, secret),
        )


async def test_a_back_office_apps_token_is_accepted_with_its_role_and_read_scopes(
    issuer: str,
) -> None:
    answer = await client_credentials(issuer, *BACKOFFICE)
    assert answer.status_code == 200, answer.text
    token = answer.json()["access_token"]
    settings = ServiceSettings(oidc_issuer=issuer, jwt_public_key_file=None)

    principal = await TokenVerifier.from_settings(settings).verify_async(token)

    assert principal.claims["iss"] == issuer
    assert principal.claims["azp"] == "crm-backoffice"
    assert principal.roles == {"backoffice"}
    assert {"contacts:read", "campaigns:read", "proposals:read"} <= principal.scopes
    assert not {s for s in principal.scopes if s.endswith((":write", ":admin", ":send"))}


async def test_a_wrong_client_secret_gets_no_token(issuer: str) -> None:
    answer = await client_credentials(issuer, "crm-backoffice", "not-the-secret")

    assert answer.status_code == 401
    assert answer.json()["error"] == "unauthorized_client"


async def test_the_realm_offers_the_console_the_code_flow_with_pkce(issuer: str) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.get(
            f"{issuer}/protocol/openid-connect/auth",
            params={
                "client_id": "crm-console",
                "response_type": "code",
                "redirect_uri": "http://127.0.0.1:8000/auth/callback",
                "scope": "openid",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
                "state": "s1",
            },
        )
        without_pkce = await http.get(
            f"{issuer}/protocol/openid-connect/auth",
            params={
                "client_id": "crm-console",
                "response_type": "code",
                "redirect_uri": "http://127.0.0.1:8000/auth/callback",
                "scope": "openid",
                "state": "s1",
            },
        )

    assert answer.status_code == 200
    assert "kc-form-login" in answer.text or 'id="kc-login"' in answer.text
    # The client requires S256: without a challenge the provider sends the browser back
    # with an error instead of a login form.
    assert without_pkce.status_code == 302
    assert "error=invalid_request" in without_pkce.headers["location"]
