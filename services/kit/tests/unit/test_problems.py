"""Every error a service returns is application/problem+json naming what went wrong."""

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from crm_kit.problems import (
    MAX_LISTED_ERRORS,
    PROBLEM_RESPONSES,
    BodySizeLimit,
    Conflict,
    FieldError,
    InvalidInput,
    NotFound,
    PreconditionRequired,
    VersionConflict,
    install_problem_handlers,
    request_path,
)
from crm_kit.refusals import Refusals
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict

PROBLEM_JSON = "application/problem+json"
MAX_BODY = 1024


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    city: str
    street: str = ""


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    email: str


class RegisterClient(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    address: Address
    people: list[Person] = []


class ClientAlreadyRegisteredError(Exception):
    """A domain error as a service's domain module would define it."""

    field = "name"


class EventAlreadyCancelledError(Exception):
    pass


class EventAlreadyCompletedError(EventAlreadyCancelledError):
    """Unregistered itself: it takes the status of the class it extends."""


class SecretLeakError(Exception):
    pass


class BadValueError(ValueError):
    """A value refusal as a domain module would define it, naming the request path."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _app() -> FastAPI:
    app = FastAPI(responses=PROBLEM_RESPONSES)
    install_problem_handlers(
        app,
        domain_errors={
            ClientAlreadyRegisteredError: 409,
            EventAlreadyCancelledError: 409,
            BadValueError: 422,
        },
    )

    @app.post("/clients")
    async def register_client(body: RegisterClient) -> dict[str, str]:
        if body.name == "Acme":
            raise ClientAlreadyRegisteredError("a client named Acme is already registered")
        return {"name": body.name}

    @app.get("/clients/{client_id}")
    async def get_client(client_id: str) -> dict[str, str]:
        raise NotFound(f"client {client_id} does not exist")

    @app.post("/events/{event_id}/cancel")
    async def cancel_event(event_id: str) -> None:
        raise EventAlreadyCancelledError(f"event {event_id} is already cancelled")

    @app.post("/events/{event_id}/complete")
    async def complete_event(event_id: str) -> None:
        raise EventAlreadyCompletedError(f"event {event_id} is already completed")

    @app.post("/duplicates")
    async def check_duplicates() -> None:
        raise Conflict("a similar client exists", extra={"candidates": ["c-1", "c-2"]})

    @app.put("/clients/{client_id}")
    async def update_client(client_id: str, if_match: str | None = None) -> None:
        if if_match is None:
            raise PreconditionRequired()
        raise VersionConflict(f"client {client_id} is at version 4", current_version=4)

    @app.post("/boom")
    async def boom() -> None:
        raise SecretLeakError("password=hunter2 in /etc/secrets")

    @app.get("/store-down")
    async def store_down() -> None:
        from pymongo.errors import ServerSelectionTimeoutError

        raise ServerSelectionTimeoutError("127.0.0.1:27017: [Errno 111] Connection refused")

    @app.post("/checks")
    async def check() -> None:
        raise InvalidInput([FieldError(field="body.iban", message="bad checksum", type="iban")])

    @app.post("/people")
    async def add_people(body: list[Person]) -> None:
        # The schema passed; the service's own checks refuse every bad e-mail, not only the
        # first, each at the path it was sent at.
        refusals = Refusals(BadValueError)
        for index, person in enumerate(body):
            with refusals.check():
                if "@" not in person.email:
                    raise BadValueError("not an e-mail address", f"body[{index}].email")
        refusals.raise_if_any()

    @app.post("/upload")
    async def upload(body: dict[str, Any]) -> dict[str, int]:
        return {"keys": len(body)}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = BodySizeLimit(_app(), max_bytes=MAX_BODY)
    # Starlette re-raises an unhandled error after sending the 500 so the server logs it.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["instance"] == response.request.url.path
    return body


async def test_an_unknown_body_field_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    payload = {"name": "Globex", "address": {"city": "Riga"}, "colour": "red"}

    body = _problem(await client.post("/clients", json=payload), 422)

    assert body["type"] == "https://crm.example/problems/invalid-input"
    assert body["errors"] == [
        {"field": "body.colour", "message": "unknown field", "type": "extra_forbidden"}
    ]
    assert body["detail"] == "body.colour: unknown field"


async def test_a_missing_nested_field_is_named_by_its_path(client: httpx.AsyncClient) -> None:
    payload = {"name": "Globex", "address": {"street": "Brivibas 1"}}

    body = _problem(await client.post("/clients", json=payload), 422)

    assert [(e["field"], e["type"]) for e in body["errors"]] == [("body.address.city", "missing")]


async def test_list_positions_appear_in_brackets(client: httpx.AsyncClient) -> None:
    payload = {
        "name": "Globex",
        "address": {"city": "Riga"},
        "people": [{"name": "Ann", "email": "a@x"}, {"name": "Bob"}],
    }

    body = _problem(await client.post("/clients", json=payload), 422)

    assert [e["field"] for e in body["errors"]] == ["body.people[1].email"]


async def test_every_invalid_field_is_listed(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/clients", json={"colour": "red"}), 422)

    fields = {e["field"] for e in body["errors"]}
    assert fields == {"body.name", "body.address", "body.colour"}
    assert body["detail"] == "3 fields are invalid; see errors"


async def test_malformed_json_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/clients", content=b"{not json", headers={"content-type": "application/json"}
    )

    body = _problem(response, 422)
    assert body["errors"][0]["type"] == "json_invalid"


async def test_a_raised_not_found_is_404_with_its_instance(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/clients/c-42"), 404)

    assert body == {
        "type": "https://crm.example/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "client c-42 does not exist",
        "instance": "/clients/c-42",
    }


async def test_a_registered_domain_error_maps_to_its_status(client: httpx.AsyncClient) -> None:
    payload = {"name": "Acme", "address": {"city": "Riga"}}

    body = _problem(await client.post("/clients", json=payload), 409)

    assert body["type"] == "https://crm.example/problems/client-already-registered"
    assert body["title"] == "Client already registered"
    assert body["detail"] == "a client named Acme is already registered"
    assert body["errors"] == [
        {
            "field": "body.name",
            "message": "a client named Acme is already registered",
            "type": "client-already-registered",
        }
    ]


@pytest.mark.parametrize(
    ("field", "shown"),
    [
        ("name", "body.name"),
        ("answers[1].scale", "body.answers[1].scale"),
        ("[2].email", "body[2].email"),
        ("body.people[0].channels.email", "body.people[0].channels.email"),
        ("query.cursor", "query.cursor"),
        ("path.proposal_id", "path.proposal_id"),
        ("header.if-match", "header.if-match"),
        ("bodyweight", "body.bodyweight"),
    ],
)
def test_a_domain_field_naming_no_origin_is_shown_as_a_body_field(field: str, shown: str) -> None:
    assert request_path(field) == shown


async def test_every_value_a_service_refuses_is_listed_in_one_problem(
    client: httpx.AsyncClient,
) -> None:
    people = [
        {"name": "A", "email": "a-at-example"},
        {"name": "B", "email": "b@example.com"},
        {"name": "C", "email": "c-at-example"},
    ]

    body = _problem(await client.post("/people", json=people), 422)

    assert body["type"] == "https://crm.example/problems/invalid-input"
    assert body["title"] == "Invalid input"
    assert body["detail"] == "2 fields are invalid; see errors"
    assert body["errors"] == [
        {"field": f"body[{i}].email", "message": "not an e-mail address", "type": "bad-value"}
        for i in (0, 2)
    ]


async def test_one_value_a_service_refuses_keeps_its_own_problem_type(
    client: httpx.AsyncClient,
) -> None:
    people = [{"name": "A", "email": "a@example.com"}, {"name": "B", "email": "b-at-example"}]

    body = _problem(await client.post("/people", json=people), 422)

    assert body["type"] == "https://crm.example/problems/bad-value"
    assert [e["field"] for e in body["errors"]] == ["body[1].email"]


async def test_many_refused_values_are_capped_like_schema_errors(
    client: httpx.AsyncClient,
) -> None:
    people = [{"name": str(i), "email": "nope"} for i in range(MAX_LISTED_ERRORS + 5)]

    body = _problem(await client.post("/people", json=people), 422)

    assert len(body["errors"]) == MAX_LISTED_ERRORS
    assert body["errors_not_listed"] == 5


async def test_a_domain_error_without_a_field_has_no_errors(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/events/e-1/cancel"), 409)

    assert body["detail"] == "event e-1 is already cancelled"
    assert "errors" not in body


async def test_a_subclass_of_a_registered_domain_error_takes_its_status(
    client: httpx.AsyncClient,
) -> None:
    body = _problem(await client.post("/events/e-1/complete"), 409)

    assert body["type"] == "https://crm.example/problems/event-already-completed"


async def test_a_conflict_carries_its_extension_members(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/duplicates"), 409)

    assert body["candidates"] == ["c-1", "c-2"]


async def test_an_update_without_if_match_is_428(client: httpx.AsyncClient) -> None:
    body = _problem(await client.put("/clients/c-1"), 428)

    assert "If-Match" in body["detail"]


async def test_a_stale_if_match_is_412_with_the_current_version(
    client: httpx.AsyncClient,
) -> None:
    body = _problem(await client.put("/clients/c-1", params={"if_match": "3"}), 412)

    assert body["current_version"] == 4


async def test_explicit_field_errors_are_kept(client: httpx.AsyncClient) -> None:
    body = _problem(await client.post("/checks"), 422)

    assert body["errors"] == [{"field": "body.iban", "message": "bad checksum", "type": "iban"}]


async def test_an_unhandled_error_is_500_without_leaking_its_message(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="crm_kit.problems"):
        response = await client.post("/boom")

    body = _problem(response, 500)
    assert "hunter2" not in response.text
    assert "SecretLeak" not in response.text
    assert body["detail"] == "an unexpected error occurred; it has been logged"
    assert any("SecretLeak" in record.getMessage() for record in caplog.records)


async def test_an_unknown_route_is_404_problem_json(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/nowhere"), 404)

    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["detail"] == "nothing is at /nowhere"


async def test_a_wrong_method_is_405_problem_json_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/clients")

    _problem(response, 405)
    assert response.headers["allow"] == "POST"


async def test_a_declared_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", json={"blob": "x" * (MAX_BODY * 2)})

    body = _problem(response, 413)
    assert body["max_bytes"] == MAX_BODY


async def test_a_streamed_oversize_body_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"blob": "'
        for _ in range(4):
            yield b"x" * (MAX_BODY // 2)
        yield b'"}'

    response = await client.post(
        "/upload", content=chunks(), headers={"content-type": "application/json"}
    )

    assert "content-length" not in response.request.headers
    _problem(response, 413)


async def test_a_body_within_the_limit_passes(client: httpx.AsyncClient) -> None:
    response = await client.post("/upload", json={"a": 1, "b": 2})

    assert response.status_code == 200
    assert response.json() == {"keys": 2}


def test_openapi_documents_problem_json_for_error_statuses() -> None:
    schema = _app().openapi()

    responses = schema["paths"]["/clients"]["post"]["responses"]
    for status in ("401", "403", "404", "409", "412", "422"):
        content = responses[status]["content"]
        assert list(content) == [PROBLEM_JSON]
        assert "errors" in content[PROBLEM_JSON]["schema"]["properties"]


async def test_a_store_that_does_not_answer_is_a_503_to_retry_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/store-down")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["retry-after"] == "2"
    body = response.json()
    assert body["type"].endswith("/store-unavailable")
    assert "did not answer" in body["detail"]
    assert "27017" not in body["detail"]  # the store's address stays in the log
