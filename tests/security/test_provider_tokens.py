"""A service accepts the tokens of the stack's real OpenID Connect provider (Keycloak, the CRM
realm) as it accepts development tokens: the scopes they carry open exactly their routes."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest
from crm_kit.testing import JwtKeys, StackEndpoints

from tests.security.conftest import RunningService, started

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def issuer() -> str:
    value = os.environ.get("CRM_OIDC_ISSUER")
    assert value, "CRM_OIDC_ISSUER is not set: start the stack and eval `crm-stack env`"
    return value


@pytest.fixture(scope="module")
async def backoffice_token(issuer: str) -> str:
    async with httpx.AsyncClient(timeout=30) as http:
        answer = await http.post(
            f"{issuer}/protocol/openid-connect/token",
            data={"grant_type": "client_credentials"},
            auth=("crm-backoffice", "dev-only-crm-backoffice-secret"),
        )
    assert answer.status_code == 200, answer.text
    token: str = answer.json()["access_token"]
    return token


@pytest.fixture(scope="module")
async def contacts(
    stack: StackEndpoints, jwt_keys: JwtKeys, issuer: str
) -> AsyncIterator[RunningService]:
    async with started("contacts", stack, jwt_keys, oidc_issuer=issuer) as service:
        yield service


async def test_a_back_office_token_reads_clients(
    contacts: RunningService, backoffice_token: str
) -> None:
    answer = await contacts.api.get(
        "/clients", headers={"Authorization": f"Bearer {backoffice_token}"}
    )

    assert answer.status_code == 200, answer.text


async def test_a_back_office_token_cannot_register_a_client(
    contacts: RunningService, backoffice_token: str
) -> None:
    answer = await contacts.api.post(
        "/clients",
        json={"name": "Forged Ltd", "kind": "company"},
        headers={"Authorization": f"Bearer {backoffice_token}"},
    )

    assert answer.status_code == 403
    assert answer.json()["missing_scopes"] == ["contacts:write"]


async def test_a_provider_token_with_a_changed_claim_is_refused(
    contacts: RunningService, backoffice_token: str
) -> None:
    header, payload, signature = backoffice_token.split(".")
    forged = ".".join(
        [header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature]
    )

    answer = await contacts.api.get("/clients", headers={"Authorization": f"Bearer {forged}"})

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"].startswith('Bearer error="invalid_token"')
