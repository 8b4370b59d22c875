"""Responses are checked against the app's own completed OpenAPI document."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from crm_kit import openapi
from crm_kit.app import CorrelationMiddleware
from crm_kit.auth import Principal, requires
from crm_kit.conformance import Conformance, Undeclared
from crm_kit.http import IfMatch, set_etag
from crm_kit.problems import NotFound, install_problem_handlers
from crm_kit.testing import http_client
from fastapi import Depends, FastAPI, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

Writer = Annotated[Principal, Depends(requires("contacts:write"))]


class ClientOut(BaseModel):
    id: str
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(CorrelationMiddleware)
    app.state.service_name = "contacts"

    @app.get("/clients/{client_id}", response_model=ClientOut)
    async def get_client(client_id: str, response: Response) -> Any:
        if client_id == "missing":
            raise NotFound(f"client {client_id} not found")
        if client_id == "teapot":
            return JSONResponse({"detail": "short and stout"}, status_code=418)
        if client_id == "extra":
            return JSONResponse({"id": client_id, "name": "Acme", "secret": "s3"})
        if client_id == "moved":
            response.headers["Location"] = "/clients/elsewhere"
        set_etag(response, 3)
        return ClientOut(id=client_id, name="Acme")

    @app.post("/clients", response_model=ClientOut, status_code=status.HTTP_201_CREATED)
    async def register_client(body: ClientOut, response: Response, _: Writer) -> ClientOut:
        response.headers["Location"] = f"/clients/{body.id}"
        return body

    @app.patch("/clients/{client_id}", response_model=ClientOut)
    async def edit_client(client_id: str, body: ClientOut, version: IfMatch, _: Writer) -> Any:
        return body

    openapi.install(app, "contacts")
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(_app(), conformance=True) as http:
        yield http


async def test_a_declared_response_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/clients/c1")

    assert response.status_code == 200
    assert response.headers["ETag"] == '"3"'
    assert "x-conformance-route" not in response.headers


async def test_a_declared_problem_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/clients/missing")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_an_undeclared_status_fails_naming_the_operation(
    client: httpx.AsyncClient,
) -> None:
    with pytest.raises(Undeclared, match=r"GET /clients/\{client_id\}.* answered 418"):
        await client.get("/clients/teapot")


async def test_an_undeclared_header_fails_naming_it(client: httpx.AsyncClient) -> None:
    with pytest.raises(Undeclared, match=r"answered 200 .*header location is not declared"):
        await client.get("/clients/moved")


async def test_an_undeclared_field_fails_naming_it(client: httpx.AsyncClient) -> None:
    with pytest.raises(Undeclared, match=r"answered 200 .*'secret' was unexpected"):
        await client.get("/clients/extra")


async def test_a_refusal_of_the_token_is_declared(client: httpx.AsyncClient) -> None:
    response = await client.post("/clients", json={"id": "c2", "name": "Acme"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_document_says_who_may_call_and_what_comes_back() -> None:
    document = _app().openapi()
    register = document["paths"]["/clients"]["post"]
    edit = document["paths"]["/clients/{client_id}"]["patch"]

    assert register["security"] == [{"HTTPBearer": ["contacts:write"]}]
    assert "sales" in register["x-roles"]
    assert "one of the roles" in register["description"]
    assert register["responses"]["201"]["headers"]["Location"]["required"] is True
    assert {"400", "401", "403", "413", "422", "503"} <= set(register["responses"])
    assert {"412", "428", "404"} <= set(edit["responses"])
    problem = register["responses"]["403"]["content"]["application/problem+json"]
    assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    members = document["components"]["schemas"]["Problem"]["properties"]
    assert {"missing_scopes", "allowed_roles", "held_roles", "rule", "candidates"} <= set(members)


def test_a_literal_path_segment_is_preferred_to_a_parameter() -> None:
    document: dict[str, Any] = {
        "paths": {
            "/steps/{step_id}/{action}": {"post": {"responses": {"200": {}}}},
            "/steps/{step_id}/block": {"post": {"responses": {"201": {}}}},
        }
    }
    operation = Conformance(document).operation("POST", "/steps/s1/block")

    assert operation is not None
    assert operation.template == "/steps/{step_id}/block"
