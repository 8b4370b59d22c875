"""Each class of hostile input an attacker tried (issue 15) against the routes that take it: every
one is a 4xx problem+json naming the field (or, for the correlation id, a request that is served
with a fresh id), never a 5xx or a reset connection.

The four services run in process on the real stack with a 64 KiB body limit; a field past its
bound but within that limit is a 422 naming the field, a bigger body a 413.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_kit.problems import MAX_LISTED_ERRORS
from crm_kit.testing import JwtKeys, StackEndpoints

from .conftest import ALL_OPERATIONS, Operation, RunningService, by_id, started

pytestmark = pytest.mark.integration

PROBLEM_JSON = "application/problem+json"


def _event(**changes: Any) -> dict[str, Any]:
    starts = datetime.now(UTC) + timedelta(days=30)
    body: dict[str, Any] = {
        "kind": "seminar",
        "title": "Hostile input",
        "place": {"venue": "Hall 1", "online_url": "https://meet.example/r/1"},
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
        "timezone": "Europe/Moscow",
    }
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = body
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return body


def _assert_names(response: Any, field: str, status: int = 422) -> None:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"] == PROBLEM_JSON
    fields = [e["field"] for e in response.json().get("errors", [])]
    assert field in fields, fields


BIG = 2**64
TOO_LONG = "x" * 10_000
"""Past every text bound, within the 64 KiB body limit."""

EVENT_CASES = {
    "capacity above 2^63": ({"capacity": BIG}, "body.capacity"),
    "budget above 2^63": (
        {"budget": {"amount_minor": BIG, "currency": "EUR"}},
        "body.budget.amount_minor",
    ),
    "a year-1 start": ({"starts_at": "0001-01-01T00:00:00Z"}, "body.starts_at"),
    "a 300-character time zone": ({"timezone": "Europe/" + "x" * 300}, "body.timezone"),
    "an unknown time zone": ({"timezone": "Mars/Olympus"}, "body.timezone"),
    "a javascript: link": (
        {"place.online_url": "javascript:alert(1)"},
        "body.place.online_url",
    ),
    "a long topic": ({"topic": TOO_LONG}, "body.topic"),
    "a long kind": ({"kind": TOO_LONG}, "body.kind"),
    "a long venue": ({"place.venue": TOO_LONG}, "body.place.venue"),
    "a long online_url": (
        {"place.online_url": "https://x.example/" + TOO_LONG},
        "body.place.online_url",
    ),
}


@pytest.mark.parametrize("case", list(EVENT_CASES))
async def test_an_event_with_hostile_input_is_refused_naming_the_field(
    services: dict[str, RunningService], case: str
) -> None:
    campaigns = services["campaigns"]
    changes, field = EVENT_CASES[case]
    response = await campaigns.api.post("/events", json=_event(**changes), headers=campaigns.admin)
    _assert_names(response, field)


async def test_a_megabyte_field_is_refused_before_it_is_read(
    services: dict[str, RunningService],
) -> None:
    campaigns = services["campaigns"]
    body = _event(topic="x" * 1_200_000)
    response = await campaigns.api.post("/events", json=body, headers=campaigns.admin)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_a_good_event_still_passes(services: dict[str, RunningService]) -> None:
    campaigns = services["campaigns"]
    response = await campaigns.api.post("/events", json=_event(), headers=campaigns.admin)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("service", "path", "body", "field"),
    [
        (
            "proposals",
            "/catalog",
            {
                "code": "HOSTILE-1",
                "name": "Price overflow",
                "kind": "service",
                "unit": "pcs",
                "list_price": {"amount_minor": BIG, "currency": "EUR"},
            },
            "body.list_price.amount_minor",
        ),
        (
            "campaigns",
            "/programmes",
            {"name": "Year one", "starts_on": "0001-01-01", "ends_on": "2027-01-01"},
            "body.starts_on",
        ),
        (
            "contacts",
            "/clients",
            {"name": "Hostile", "website": "javascript:alert(1)"},
            "body.website",
        ),
        (
            "contacts",
            "/contacts",
            {
                "client_id": "c1",
                "employee_id": "e1",
                "kind": "call",
                "occurred_at": "0001-01-01T00:00:00Z",
                "summary": "year one",
            },
            "body.occurred_at",
        ),
    ],
)
async def test_hostile_values_in_other_services_are_refused_naming_the_field(
    services: dict[str, RunningService], service: str, path: str, body: dict[str, Any], field: str
) -> None:
    running = services[service]
    response = await running.api.post(path, json=body, headers=running.admin)
    _assert_names(response, field)


def _unsigned_cursor(value: Any) -> str:
    """A cursor in the shape the services once issued (base64 JSON), carrying ``value``."""
    raw = json.dumps([value, "x"]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


LISTS = [
    op
    for op in ALL_OPERATIONS
    if op.method == "GET" and any(p["name"] == "cursor" for p in op.spec.get("parameters", []))
]


def test_every_service_has_a_list_with_a_cursor() -> None:
    assert {op.service for op in LISTS} == {"contacts", "campaigns", "proposals", "notify"}


@pytest.mark.parametrize("op", list(by_id(LISTS)))
async def test_a_cursor_carrying_operators_is_400_naming_cursor(
    services: dict[str, RunningService], op: Operation
) -> None:
    running = services[op.service]
    for value in ({"$ne": None}, {"$gt": ""}, {"t": {"$ne": None}}):
        for cursor in (_unsigned_cursor(value), _unsigned_cursor(value) + ".forged"):
            response = await running.api.get(
                op.url(), params={"cursor": cursor}, headers=running.admin
            )
            _assert_names(response, "query.cursor", status=400)


SEEDED_LISTS = {
    "contacts": (
        "/employees",
        [{"name": f"Pager {n}", "department": "sales", "role": "manager"} for n in (1, 2)],
    ),
    "campaigns": (
        "/programmes",
        [
            {"name": f"Paging {n}", "starts_on": "2027-01-01", "ends_on": "2027-12-31"}
            for n in (1, 2)
        ],
    ),
    "proposals": (
        "/catalog",
        [
            {
                "code": f"PAGE-{n}-{datetime.now(UTC).timestamp():.0f}",
                "name": f"Paging {n}",
                "kind": "service",
                "unit": "pcs",
                "list_price": {"amount_minor": 100, "currency": "EUR"},
            }
            for n in (1, 2)
        ],
    ),
    "notify": (
        "/notifications",
        [
            {
                "recipient": {"kind": "address", "id": f"pager{n}@example.com"},
                "channel": "email",
                "subject": "Paging",
                "body": "Paging",
            }
            for n in (1, 2)
        ],
    ),
}


@pytest.mark.parametrize("service", list(SEEDED_LISTS))
async def test_a_cursor_the_list_issued_still_pages(
    services: dict[str, RunningService], service: str
) -> None:
    running = services[service]
    path, bodies = SEEDED_LISTS[service]
    for body in bodies:
        made = await running.api.post(path, json=body, headers=running.admin)
        assert made.status_code in (200, 201), made.text[:300]
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = await running.api.get(path, params=params, headers=running.admin)
        assert page.status_code == 200, page.text[:300]
        seen += [json.dumps(item, sort_keys=True) for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) >= len(bodies)
    assert len(set(seen)) == len(seen)


WITH_PATH_IDS = [
    op
    for op in ALL_OPERATIONS
    if op.scopes is not None and any(p["in"] == "path" for p in op.spec.get("parameters", []))
]


@pytest.mark.parametrize("op", list(by_id(WITH_PATH_IDS)))
async def test_an_oversized_path_id_is_422_naming_it(
    services: dict[str, RunningService], op: Operation
) -> None:
    running = services[op.service]
    names = [p["name"] for p in op.spec["parameters"] if p["in"] == "path"]
    response = await running.api.request(
        op.method, op.url("i" * 300), headers=running.admin | {"If-Match": '"1"'}, json={}
    )
    assert response.status_code == 422, response.text[:300]
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields & {f"path.{n}" for n in names}, fields


WITH_BODIES = [op for op in ALL_OPERATIONS if op.scopes is not None and op.json_body_schema()]


@pytest.mark.parametrize("op", list(by_id(WITH_BODIES)))
async def test_many_unknown_keys_get_a_small_error(
    services: dict[str, RunningService], op: Operation
) -> None:
    running = services[op.service]
    body = {f"unknown{i}": 1 for i in range(3_000)}
    response = await running.api.request(
        op.method, op.url(), json=body, headers=running.admin | {"If-Match": '"1"'}
    )
    assert response.status_code == 422, response.text[:300]
    problem = response.json()
    assert len(problem["errors"]) <= MAX_LISTED_ERRORS
    assert problem["errors_not_listed"] >= 3_000 - MAX_LISTED_ERRORS
    assert len(response.content) < 10_000


async def test_a_hundred_thousand_unknown_keys_get_a_small_error(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    # The default body limit (4 MiB) lets this body through to validation.
    async with started("contacts", stack, jwt_keys, max_request_body_bytes=4 * 1024 * 1024) as c:
        body = {f"k{i}": 1 for i in range(100_000)} | {"name": "Many keys"}
        response = await c.api.post("/clients", json=body, headers=c.admin)
    assert response.status_code == 422
    problem = response.json()
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["errors_not_listed"] == 100_000 - MAX_LISTED_ERRORS
    assert len(response.content) < 10_000


@pytest.mark.parametrize("service", ["contacts", "campaigns", "proposals", "notify"])
@pytest.mark.parametrize("raw", [b"\xff\xfe\xfa", b"x" * 300, "ид".encode()])
async def test_an_unusable_correlation_id_is_replaced_not_a_500(
    services: dict[str, RunningService], service: str, raw: bytes
) -> None:
    running = services[service]
    path = next(op.url() for op in LISTS if op.service == service and "{" not in op.path)
    response = await running.api.get(
        path,
        headers=running.admin | {"X-Correlation-ID": raw},  # type: ignore[dict-item]
    )
    assert response.status_code == 200, response.text[:300]
    used = response.headers["X-Correlation-ID"]
    assert used.encode() != raw
    assert used.isascii()


async def test_a_non_ascii_digit_in_the_questionnaire_form_is_a_friendly_422(
    services: dict[str, RunningService],
) -> None:
    campaigns = services["campaigns"]
    event = await campaigns.api.post("/events", json=_event(), headers=campaigns.admin)
    assert event.status_code == 201, event.text
    event_id = event.json()["id"]
    defined = await campaigns.api.put(
        f"/events/{event_id}/questionnaire",
        json={
            "title": "How was it?",
            "questions": [
                {"question_id": "rating", "text": "Rate it", "kind": "scale", "required": True}
            ],
        },
        headers=campaigns.admin | {"If-Match": '"0"'},
    )
    assert defined.status_code == 200, defined.text
    link = defined.json()["anonymous_link"]
    for value in ("²", "٣", "9" * 5000, "-1"):
        response = await campaigns.api.post(link, data={"q_rating": value})
        assert response.status_code == 422, (value, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        assert "1 to 5" in response.text
    many = await campaigns.api.post(link, data={"q_rating": "3", "name": "n" * 5000})
    assert many.status_code == 200, many.text[:300]
