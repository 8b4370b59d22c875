"""The kit's guards against hostile input: bounded fields, signed cursors, capped errors and a
correlation id that cannot break a response. No I/O: an app in process per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from crm_kit.app import CorrelationMiddleware
from crm_kit.cursors import BadCursor, CursorSigner, PageCursor
from crm_kit.fields import (
    MAX_MINOR_UNITS,
    DomainDate,
    DomainDateTime,
    HttpUrl,
    MinorUnits,
    TimeZone,
)
from crm_kit.problems import MAX_LISTED_ERRORS, install_problem_handlers
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

PROBLEM_JSON = "application/problem+json"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "x"


class _Settings:
    service_name = "sample"
    cursor_secret = "a-test-secret"


def _app() -> FastAPI:
    app = FastAPI()
    app.state.settings = _Settings()
    install_problem_handlers(app)
    app.add_middleware(CorrelationMiddleware)

    @app.post("/things")
    async def make(body: Body) -> dict[str, str]:
        return {"name": body.name}

    @app.get("/things")
    async def things(cursor: PageCursor) -> dict[str, str | None]:
        return {"position": cursor.position, "next": cursor.next("after-7")}

    @app.get("/others")
    async def others(cursor: PageCursor) -> dict[str, str | None]:
        return {"position": cursor.position}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,x", "ftp://x.example", "//x.example", "x"]
)
def test_a_link_is_only_http_or_https(url: str) -> None:
    with pytest.raises(ValidationError, match="http:// or https://"):
        TypeAdapter(HttpUrl).validate_python(url)


def test_an_http_link_is_kept_as_typed() -> None:
    assert TypeAdapter(HttpUrl).validate_python("HTTPS://Meet.example/r?x=1") == (
        "HTTPS://Meet.example/r?x=1"
    )


@pytest.mark.parametrize("zone", ["Europe/Moscow", "UTC", "America/Argentina/Buenos_Aires"])
def test_a_known_time_zone_passes(zone: str) -> None:
    assert TypeAdapter(TimeZone).validate_python(zone) == zone


@pytest.mark.parametrize("zone", ["Mars/Olympus", "../../etc/passwd", "Europe/" + "x" * 300, ""])
def test_an_unknown_or_oversized_time_zone_is_refused(zone: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(TimeZone).validate_python(zone)


def test_amounts_stop_far_below_the_stores_integers() -> None:
    adapter = TypeAdapter(MinorUnits)
    assert adapter.validate_python(MAX_MINOR_UNITS) == MAX_MINOR_UNITS
    for value in (MAX_MINOR_UNITS + 1, 2**63, -1):
        with pytest.raises(ValidationError):
            adapter.validate_python(value)


@pytest.mark.parametrize("value", ["0001-01-01", "1899-12-31", "2201-01-01", "9999-12-31"])
def test_dates_outside_the_domain_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(DomainDate).validate_python(value)


def test_moments_outside_the_domain_are_refused_and_inside_pass() -> None:
    adapter = TypeAdapter(DomainDateTime)
    with pytest.raises(ValidationError, match="between 1900 and 2200"):
        adapter.validate_python("0001-01-01T00:00:00Z")
    assert adapter.validate_python("2027-03-01T10:00:00+03:00").year == 2027


def test_a_signed_cursor_opens_only_in_its_own_list() -> None:
    signer = CursorSigner("secret", "contacts")
    cursor = signer.sign("/clients", "WyJ4IiwiMSJd")
    assert signer.verify("/clients", cursor) == "WyJ4IiwiMSJd"
    with pytest.raises(BadCursor):
        signer.verify("/employees", cursor)
    with pytest.raises(BadCursor):
        CursorSigner("secret", "proposals").verify("/clients", cursor)
    with pytest.raises(BadCursor):
        CursorSigner("another", "contacts").verify("/clients", cursor)


async def test_a_round_trip_cursor_comes_back_as_its_position(client: httpx.AsyncClient) -> None:
    first = (await client.get("/things")).json()
    assert first["position"] is None
    second = await client.get("/things", params={"cursor": first["next"]})
    assert second.json()["position"] == "after-7"


@pytest.mark.parametrize(
    "cursor",
    [
        "eyIkbmUiOiBudWxsfQ",  # base64 of {"$ne": null}, unsigned
        "eyIkbmUiOiBudWxsfQ.AAAAAAAAAAAAAAAAAAAAAA",
        "",
        ".",
        "a" * 900 + ".x",
    ],
)
async def test_a_forged_cursor_is_400_naming_cursor(client: httpx.AsyncClient, cursor: str) -> None:
    response = await client.get("/things", params={"cursor": cursor} if cursor else {})
    if not cursor:
        assert response.status_code == 200
        return
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["errors"][0]["field"] == "query.cursor"


async def test_a_cursor_of_another_list_is_refused(client: httpx.AsyncClient) -> None:
    issued = (await client.get("/things")).json()["next"]
    response = await client.get("/others", params={"cursor": issued})
    assert response.status_code == 400


async def test_a_body_with_many_unknown_keys_gets_a_small_error(
    client: httpx.AsyncClient,
) -> None:
    body = {f"k{i}-" + "x" * 50: 1 for i in range(20_000)}
    response = await client.post("/things", json=body)
    assert response.status_code == 422
    problem = response.json()
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["errors_not_listed"] == 20_000 - MAX_LISTED_ERRORS
    assert len(response.content) < 8_000


async def test_an_echoed_field_name_is_cut(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"y" * 100_000: 1})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert len(error["field"]) <= 200
    assert error["field"].endswith("…")
    assert len(response.content) < 2_000


@pytest.mark.parametrize(
    "raw",
    [b"\xff\xfe\xfa", "ид-1".encode(), b"x" * 129, b"two words", b"\x01ctl"],
)
async def test_an_unusable_correlation_id_is_replaced(
    client: httpx.AsyncClient, raw: bytes
) -> None:
    response = await client.post("/things", json={}, headers={"X-Correlation-ID": raw})
    assert response.status_code == 200
    used = response.headers["X-Correlation-ID"]
    assert used.encode() != raw
    assert len(used) == 32
    assert used.isalnum()


async def test_a_usable_correlation_id_is_kept(client: httpx.AsyncClient) -> None:
    wanted = "orders:2027/03-01.abc_DEF+1=2@x"
    response = await client.post("/things", json={}, headers={"X-Correlation-ID": wanted})
    assert response.headers["X-Correlation-ID"] == wanted
