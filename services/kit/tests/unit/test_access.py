"""Roles per route from the one table (``crm_kit.access``), checked by ``requires`` after scopes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from crm_kit import access
from crm_kit.auth import Principal, TokenVerifier, requires, sign_token
from crm_kit.problems import install_problem_handlers
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI

_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
PUBLIC = _KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)

Writer = Annotated[Principal, Depends(requires("contacts:write"))]


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(PUBLIC, "crm-test", "crm")
    app.state.service_name = "contacts"

    @app.put("/clients/{client_id}/curator")
    async def assign_curator(client_id: str, caller: Writer) -> dict[str, Any]:
        return {"client_id": client_id, "by": caller.employee_id, "app": caller.app}

    @app.post("/contacts")
    async def record(body: dict[str, str], caller: Writer) -> dict[str, str]:
        caller.check_acts_for(body.get("employee_id"), "body.employee_id")
        return {"recorded": "yes"}

    @app.post("/not-in-the-table")
    async def stray(_: Writer) -> dict[str, str]:
        return {"reached": "yes"}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _auth(*roles: str, employee_id: str | None = None) -> dict[str, str]:
    token = sign_token(
        PRIVATE,
        subject="someone",
        scopes=["contacts:write"],
        issuer="crm-test",
        audience="crm",
        roles=roles,
        employee_id=employee_id,
    )
    return {"Authorization": f"Bearer {token}"}


async def test_a_role_the_table_lists_reaches_the_route(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/clients/c1/curator", headers=_auth(access.SALES_MANAGER, employee_id="e-1")
    )

    assert response.status_code == 200
    assert response.json() == {"client_id": "c1", "by": "e-1", "app": "someone"}


async def test_a_role_the_table_does_not_list_is_403_naming_the_roles_that_would_do(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put("/clients/c1/curator", headers=_auth(access.SALES))

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["allowed_roles"] == sorted(
        access.rule_for("contacts", "PUT", "/clients/{client_id}/curator").roles
    )  # type: ignore[union-attr]
    assert body["held_roles"] == ["sales"]
    assert "sales-manager" in body["detail"]


async def test_a_token_with_no_role_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.put("/clients/c1/curator", headers=_auth())

    assert response.status_code == 403
    assert "none" in response.json()["detail"]


async def test_a_route_missing_from_the_table_is_refused_to_everyone(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/not-in-the-table", headers=_auth(*access.ROLES))

    assert response.status_code == 403
    assert "not in the authorization table" in response.json()["detail"]


async def test_a_person_records_work_only_as_themselves(client: httpx.AsyncClient) -> None:
    own = await client.post(
        "/contacts", json={"employee_id": "e-1"}, headers=_auth("sales", employee_id="e-1")
    )
    colleague = await client.post(
        "/contacts", json={"employee_id": "e-2"}, headers=_auth("sales", employee_id="e-1")
    )
    integration = await client.post(
        "/contacts", json={"employee_id": "e-2"}, headers=_auth("integration")
    )

    assert own.status_code == 200
    assert colleague.status_code == 403
    assert colleague.json()["field"] == "body.employee_id"
    assert integration.status_code == 200


def test_every_rule_names_only_known_roles_and_every_service_reads_with_any_role() -> None:
    for service, rules in access.TABLE.items():
        assert rules, service
        for operation, rule in rules.items():
            assert rule.roles <= access.ROLES, operation
            assert rule.roles, operation
            if operation.startswith("GET ") and rule is not access.PERSONAL_DATA_EXPORT:
                assert rule.roles == access.READERS, (service, operation)


def test_only_data_protection_exports_a_persons_data_from_every_service() -> None:
    exports = {
        service: rules.get("GET /people/{person_id}/personal-data")
        for service, rules in access.TABLE.items()
    }

    assert set(exports.values()) == {access.PERSONAL_DATA_EXPORT}
    assert access.PERSONAL_DATA_EXPORT.roles == {access.DATA_PROTECTION}


def test_no_app_role_may_approve_a_discount_or_be_staff() -> None:
    assert access.INTEGRATION not in access.STAFF
    assert access.BACKOFFICE not in access.STAFF
    assert access.DISCOUNT_APPROVER in access.STAFF


def test_sign_token_refuses_roles_smuggled_through_extra_claims() -> None:
    with pytest.raises(ValueError, match="realm_access"):
        sign_token(
            PRIVATE,
            subject="x",
            scopes=[],
            issuer="i",
            audience="a",
            extra_claims={"realm_access": {"roles": ["operator"]}},
        )


def test_the_document_lists_every_operation_of_the_table() -> None:
    text = access.render_markdown()
    for rules in access.TABLE.values():
        for operation in rules:
            assert f"`{operation}`" in text
