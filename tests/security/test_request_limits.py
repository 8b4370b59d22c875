"""Bad input every service refuses the same way, checked on every operation from OpenAPI.

- A request body over the configured size is refused with 413 problem+json, whether it says
  its length up front or streams it (chunked), before the route runs.
- Every ``limit`` query parameter of a list has a maximum, and asking for more is a 422 naming
  ``query.limit``.
- Every JSON request body forbids unknown fields (no mass assignment): an extra member is a 422
  naming it, and the document says so (``additionalProperties: false``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from crm_kit.http import MAX_PAGE_SIZE
from crm_kit.problems import PROBLEM_MEDIA_TYPE

from .conftest import ALL_OPERATIONS, MAX_BODY_BYTES, SERVICES, Operation, by_id

pytestmark = pytest.mark.integration

WITH_BODY = [op for op in ALL_OPERATIONS if "requestBody" in op.spec]
JSON_OBJECT_BODIES = [op for op in WITH_BODY if op.json_body_schema() is not None]
PAGED = [
    op
    for op in ALL_OPERATIONS
    if any(p["in"] == "query" and p["name"] == "limit" for p in op.spec.get("parameters", []))
]


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].split(";")[0] == PROBLEM_MEDIA_TYPE
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def _headers(service: Any, op: Operation) -> dict[str, str]:
    # Everything a request needs to get past authentication and preconditions.
    return service.admin | {"If-Match": '"1"'}


READ_AFTER_THE_LINK = {("POST", "/q/{token}")}
"""Operations that read their (form) body themselves, once the signed link is checked."""


def test_every_service_has_operations_with_bodies_and_pages() -> None:
    # The enumeration below is not vacuous.
    assert {op.service for op in JSON_OBJECT_BODIES} == set(SERVICES)
    assert {op.service for op in PAGED} >= {"contacts", "campaigns", "proposals", "notify"}


@pytest.mark.parametrize("op", list(by_id(WITH_BODY)))
async def test_an_oversize_body_is_refused_with_413(
    op: Operation, services: dict[str, Any]
) -> None:
    service = services[op.service]
    # Sent as the media type the operation reads, so the route would read it all.
    media_type = next(iter(op.spec["requestBody"]["content"]))
    headers = _headers(service, op) | {"Content-Type": media_type}
    oversize = b"x" * (MAX_BODY_BYTES + 1)
    declared = await service.api.request(op.method, op.url(), content=oversize, headers=headers)
    assert _problem(declared, 413)["max_bytes"] == MAX_BODY_BYTES
    if (op.method, op.path) in READ_AFTER_THE_LINK:
        # Its link is checked before its body is read: a bad link is answered (404) without
        # reading any of a streamed body, so there is nothing to count.
        return

    async def chunks() -> AsyncIterator[bytes]:
        # No Content-Length: the body is counted as it arrives.
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"y" * 4096

    streamed = await service.api.request(op.method, op.url(), content=chunks(), headers=headers)
    assert "content-length" not in streamed.request.headers
    assert _problem(streamed, 413)["max_bytes"] == MAX_BODY_BYTES


@pytest.mark.parametrize("op", list(by_id(PAGED)))
async def test_page_sizes_are_capped(op: Operation, services: dict[str, Any]) -> None:
    service = services[op.service]
    (limit,) = [p for p in op.spec["parameters"] if p["in"] == "query" and p["name"] == "limit"]
    maximum = limit["schema"].get("maximum")
    assert isinstance(maximum, int), f"{op.id}: limit has no maximum"
    assert maximum <= MAX_PAGE_SIZE, f"{op.id}: pages of {maximum} exceed the kit's cap"
    response = await service.api.request(
        op.method,
        op.url(),
        params={"limit": maximum + 1},
        headers=_headers(service, op),
    )
    errors = _problem(response, 422)["errors"]
    assert "query.limit" in [e["field"] for e in errors]


def _objects_without_closed_properties(schema: Any, components: dict[str, Any]) -> list[str]:
    """Object schemas reachable from ``schema`` that accept members they do not declare."""
    open_objects: list[str] = []
    seen: set[str] = set()

    def walk(node: Any, where: str) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item, where)
            return
        if not isinstance(node, dict):
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            name = ref.rsplit("/", 1)[-1]
            if name not in seen:
                seen.add(name)
                walk(components[name], name)
            return
        if "properties" in node and node.get("additionalProperties") is not False:
            open_objects.append(where)
        for key in ("properties",):
            for value in node.get(key, {}).values():
                walk(value, where)
        for key in ("items", "anyOf", "oneOf", "allOf", "additionalProperties"):
            walk(node.get(key), where)

    walk(schema, "(inline)")
    return open_objects


@pytest.mark.parametrize("op", list(by_id(JSON_OBJECT_BODIES)))
async def test_unknown_fields_are_refused(op: Operation, services: dict[str, Any]) -> None:
    service = services[op.service]
    components = service.app.openapi().get("components", {}).get("schemas", {})
    schema = op.json_body_schema()
    assert _objects_without_closed_properties(schema, components) == []

    response = await service.api.request(
        op.method,
        op.url(),
        content=json.dumps({"not_a_field_of_this": 1}),
        headers=_headers(service, op) | {"Content-Type": "application/json"},
    )
    errors = _problem(response, 422)["errors"]
    unknown = [e for e in errors if e["field"].endswith("not_a_field_of_this")]
    assert unknown, errors
    assert unknown[0]["type"] == "extra_forbidden"
