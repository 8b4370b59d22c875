"""The kit's guards on what a request may carry: body size, page size, and the scopes a route
needs read back from the app (what the route-by-route security tests enumerate)."""

from typing import Annotated

import httpx
import pytest
from crm_kit.app import ServiceSpec, create_app
from crm_kit.auth import Principal, requires, scopes_required_by
from crm_kit.http import MAX_PAGE_SIZE, PageLimit
from crm_kit.problems import PROBLEM_MEDIA_TYPE
from crm_kit.settings import ServiceSettings
from fastapi import APIRouter, Depends, FastAPI
from fastapi.routing import iter_route_contexts

router = APIRouter()
Reader = Annotated[Principal, Depends(requires("things:read"))]


@router.get("/things")
async def list_things(_: Reader, limit: PageLimit = 20) -> dict[str, int]:
    return {"limit": limit}


@router.post("/things", dependencies=[Depends(requires("things:write", "things:audit"))])
async def add_thing(body: dict[str, str]) -> dict[str, int]:
    return {"size": len(body)}


@router.get("/open")
async def open_route() -> dict[str, str]:
    return {"status": "ok"}


def _app(**settings: object) -> FastAPI:
    spec = ServiceSpec(name="guarded", title="Guarded", routers=[router])
    return create_app(spec, ServiceSettings(environment="test", **settings))  # type: ignore[arg-type]


def _route(app: FastAPI, method: str, path: str) -> object:
    (route,) = [
        r
        for r in iter_route_contexts(app.routes)
        if r.path_format == path and method in (r.methods or ())
    ]
    return route


def test_the_scopes_a_route_needs_are_read_from_its_dependencies() -> None:
    app = _app()
    assert scopes_required_by(_route(app, "GET", "/things")) == {"things:read"}
    assert scopes_required_by(_route(app, "POST", "/things")) == {"things:write", "things:audit"}
    assert scopes_required_by(_route(app, "GET", "/open")) is None
    assert scopes_required_by(_route(app, "GET", "/healthz")) is None


def test_the_default_body_limit_is_four_mebibytes() -> None:
    assert ServiceSettings(environment="test").max_request_body_bytes == 4 * 1024 * 1024


@pytest.mark.parametrize("size", [100, 101])
async def test_every_app_refuses_a_body_over_the_configured_size(size: int) -> None:
    app = _app(max_request_body_bytes=100)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.post("/things", content=b"x" * size)
    if size > 100:
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
        assert response.json()["max_bytes"] == 100
    else:
        # Not refused for its size: it reaches authentication (no verifier configured here).
        assert response.status_code != 413


def test_page_limit_is_capped_in_the_schema() -> None:
    app = _app()
    (limit,) = [
        p for p in app.openapi()["paths"]["/things"]["get"]["parameters"] if p["name"] == "limit"
    ]
    assert limit["schema"]["maximum"] == MAX_PAGE_SIZE
    assert limit["schema"]["minimum"] == 1
