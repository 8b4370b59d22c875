"""Every value a caller sends has a maximum: read from each service's own OpenAPI document.

Walks every operation's parameters (path, query, header) and JSON request body, following
``$ref``s, and lists each string without ``maxLength`` (or an ``enum``, ``const`` or a
format that bounds it), each array without ``maxItems``, each integer without ``maximum`` and
each object that takes arbitrary keys without ``maxProperties``. A route added tomorrow with a
bare ``str`` fails here, not in production.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import ALL_OPERATIONS, SERVICES, Operation, by_id, operations_of

BOUNDED_FORMATS = {"date", "date-time", "time", "uuid", "binary"}
"""String formats whose own grammar bounds their length."""

UNSTRUCTURED_MEDIA = {"text/csv"}
"""Bodies read as a whole file (a CSV import): bounded by the request body limit, their rows
then validated as the JSON bodies are."""

NOT_CHECKED = {
    # A signed link's token: verified before anything is read, at most a few hundred bytes
    # reach the verifier, which refuses anything else with a readable page.
    ("path", "token"),
}


def _resolve(node: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = components[name]
    return node


def unbounded(
    node: dict[str, Any], where: str, components: dict[str, Any], seen: frozenset[str]
) -> list[str]:
    """Paths under ``node`` that have no maximum."""
    ref = node.get("$ref")
    if ref is not None:
        if ref in seen:
            return []
        return unbounded(_resolve(node, components), where, components, seen | {ref})
    found: list[str] = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in node.get(key, []):
            found += unbounded(option, where, components, seen)
    if "enum" in node or "const" in node:
        return found
    kind = node.get("type")
    if kind == "string":
        if "maxLength" not in node and node.get("format") not in BOUNDED_FORMATS:
            found.append(f"{where}: string without maxLength")
    elif kind == "integer":
        if "maximum" not in node and "exclusiveMaximum" not in node:
            found.append(f"{where}: integer without maximum")
    elif kind == "array":
        if "maxItems" not in node:
            found.append(f"{where}: array without maxItems")
        items = node.get("items")
        if isinstance(items, dict):
            found += unbounded(items, f"{where}[]", components, seen)
        for i, item in enumerate(node.get("prefixItems", [])):
            found += unbounded(item, f"{where}[{i}]", components, seen)
    elif kind == "object" or "properties" in node:
        for name, child in node.get("properties", {}).items():
            found += unbounded(child, f"{where}.{name}", components, seen)
        extra = node.get("additionalProperties")
        if isinstance(extra, dict):
            if "maxProperties" not in node:
                found.append(f"{where}: map without maxProperties")
            found += unbounded(extra, f"{where}.*", components, seen)
    return found


_COMPONENTS = {
    name: (
        SERVICES[name][0](
            SERVICES[name][1](environment="test", jwt_public_key_file=None, log_json=False)
        )
        .openapi()
        .get("components", {})
        .get("schemas", {})
    )
    for name in SERVICES
}

WITH_INPUT = [
    op
    for op in ALL_OPERATIONS
    if op.spec.get("parameters") or op.spec.get("requestBody", {}).get("content")
]


@pytest.mark.parametrize("op", list(by_id(WITH_INPUT)))
def test_every_input_of_the_operation_has_a_maximum(op: Operation) -> None:
    components = _COMPONENTS[op.service]
    found: list[str] = []
    for parameter in op.spec.get("parameters", []):
        if (parameter["in"], parameter["name"]) in NOT_CHECKED or parameter["in"] == "cookie":
            continue
        where = f"{parameter['in']}.{parameter['name']}"
        found += unbounded(parameter.get("schema", {}), where, components, frozenset())
    for media, content in op.spec.get("requestBody", {}).get("content", {}).items():
        if media in UNSTRUCTURED_MEDIA:
            continue
        schema = content.get("schema")
        if isinstance(schema, dict):
            found += unbounded(schema, f"body({media})", components, frozenset())
    assert not found, "\n".join(found)


def test_the_walk_finds_an_unbounded_field() -> None:
    # The check itself can fail: a bare string, integer and list are each reported.
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "count": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}},
        },
    }
    assert unbounded(schema, "body", {}, frozenset()) == [
        "body.name: string without maxLength",
        "body.count: integer without maximum",
        "body.tags: array without maxItems",
    ]


def test_every_service_is_walked() -> None:
    assert {op.service for op in WITH_INPUT} == set(SERVICES)
    assert all(operations_of(name) for name in SERVICES)
