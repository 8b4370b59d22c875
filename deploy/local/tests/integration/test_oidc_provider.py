"""The stack's OpenID Connect provider (Keycloak with the CRM realm) issues tokens the
services accept: a back-office app signs in with client credentials, and the kit checks the
token through the provider's real JWKS."""

from __future__ import annotations

import asyncio
import os
import time
import uuid

import httpx
import jwt
import pytest
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
from crm_kit.auth import TokenVerifier
from crm_kit.oidc import ProviderKeys
from crm_kit.settings import ServiceSettings
from crm_kit.signin import SignInError, sign_in
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    http_client,
    running,
    service_env,
)
from crm_ops import identity
from crm_stack import keycloak
from crm_stack.config import StackConfig

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


async def test_keys_are_read_through_a_discovery_url_spelled_unlike_the_issuer(
    issuer: str,
) -> None:
    # As in compose or a cluster: tokens name one address, the service reaches another.
    inside = issuer.replace("://127.0.0.1:", "://localhost:")
    assert inside != issuer
    answer = await client_credentials(issuer, *BACKOFFICE)
    assert answer.status_code == 200, answer.text
    asked: list[str] = []

    async def record(request: httpx.Request) -> None:
        asked.append(str(request.url))

    async with httpx.AsyncClient(timeout=30, event_hooks={"request": [record]}) as http:
        keys = ProviderKeys(issuer, discovery_url=inside, client=http)
        verifier = TokenVerifier(None, "crm-local", "crm", providers=[keys])
        principal = await verifier.verify_async(answer.json()["access_token"])

    assert principal.claims["iss"] == issuer
    assert principal.roles == {"backoffice"}
    # Keycloak names its public address in the document; the keys were read inside all the same.
    assert asked == [
        f"{inside}/.well-known/openid-configuration",
        f"{inside}/protocol/openid-connect/certs",
    ]


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


async def test_a_person_signs_in_with_the_code_flow_and_gets_their_roles_and_department(
    issuer: str,
) -> None:
    tokens = await sign_in(issuer, "ffinansov", "dev-only-ffinansov")
    settings = ServiceSettings(oidc_issuer=issuer, jwt_public_key_file=None)

    principal = await TokenVerifier.from_settings(settings).verify_async(tokens.access_token)

    assert principal.claims["azp"] == "crm-console"
    assert principal.claims["preferred_username"] == "ffinansov"
    assert principal.claims["department"] == "finance"
    assert {"discount-approver", "department-head"} <= principal.roles
    assert "sales" not in principal.roles
    assert {"proposals:read", "proposals:write"} <= principal.scopes


async def test_a_wrong_password_signs_nobody_in(issuer: str) -> None:
    with pytest.raises(SignInError, match="was not signed in"):
        await sign_in(issuer, "ffinansov", "not-the-password")


async def test_linking_puts_the_employee_of_contacts_into_the_persons_tokens(
    issuer: str, stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    settings = ContactsSettings(**service_env(stack, jwt_keys, "contacts"))
    app = create_contacts(settings)
    async with running(app), http_client(app) as contacts:
        contacts.headers.update(bearer(jwt_keys, "contacts:read", "contacts:write"))
        registered = await contacts.post(
            "/employees",
            json={
                "name": "Григорий Складов",
                "department": "logistics",
                "role": "logistics manager",
                "channels": {"email": "employee10@demo.crm.example"},
            },
        )
        assert registered.status_code == 201, registered.text
        employee_id = registered.json()["id"]
        admin = keycloak.admin_password(StackConfig.from_env())

        first = await identity.link_employees(issuer, admin, contacts)
        again = await identity.link_employees(issuer, admin, contacts)

    # The service's database is this test's own: only this employee has the address.
    assert first.linked["gskladov"] == employee_id
    assert "omarkova" in first.unmatched  # no employee of this store has her address
    assert again.unchanged["gskladov"] == employee_id
    assert "gskladov" not in again.linked
    tokens = await sign_in(issuer, "gskladov", "dev-only-gskladov")
    verifier = TokenVerifier.from_settings(
        ServiceSettings(oidc_issuer=issuer, jwt_public_key_file=None)
    )
    principal = await verifier.verify_async(tokens.access_token)
    assert principal.employee_id == employee_id


async def test_a_rotated_signing_key_is_taken_up_by_a_running_service(
    issuer: str, stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    settings = ContactsSettings(**service_env(stack, jwt_keys, "contacts", oidc_issuer=issuer))
    app = create_contacts(settings)
    base = issuer.rsplit("/realms/", 1)[0]
    admin = keycloak.admin_password(StackConfig.from_env())
    async with running(app), http_client(app) as contacts, httpx.AsyncClient(timeout=30) as http:
        before = (await client_credentials(issuer, *BACKOFFICE)).json()["access_token"]
        answered = await contacts.get("/clients", headers={"Authorization": f"Bearer {before}"})
        assert answered.status_code == 200, answered.text

        token = (
            await http.post(
                f"{base}/realms/master/protocol/openid-connect/token",
                data={
                    "client_id": "admin-cli",
                    "grant_type": "password",
                    "username": "admin",
                    "password": admin,
                },
            )
        ).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        realm_id = (await http.get(f"{base}/admin/realms/crm", headers=headers)).json()["id"]
        created = await http.post(
            f"{base}/admin/realms/crm/components",
            headers=headers,
            json={
                "name": f"rotated-{uuid.uuid4().hex[:8]}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {
                    "priority": [str(int(time.time()))],
                    "enabled": ["true"],
                    "active": ["true"],
                    "algorithm": ["RS256"],
                    "keySize": ["2048"],
                },
            },
        )
        assert created.status_code == 201, created.text
        component = created.headers["location"].rsplit("/", 1)[1]
        try:
            # The service reads the provider's keys again for an unknown key id, at most once
            # every 10 s: wait that out, as the first token's request read them just now.
            await asyncio.sleep(10.5)
            after = (await client_credentials(issuer, *BACKOFFICE)).json()["access_token"]
            assert (
                jwt.get_unverified_header(after)["kid"]
                != (jwt.get_unverified_header(before)["kid"])
            )

            rotated = await contacts.get("/clients", headers={"Authorization": f"Bearer {after}"})
            still = await contacts.get("/clients", headers={"Authorization": f"Bearer {before}"})
        finally:
            await http.delete(f"{base}/admin/realms/crm/components/{component}", headers=headers)

    assert rotated.status_code == 200, rotated.text
    assert still.status_code == 200, still.text  # the old key stays published until removed
