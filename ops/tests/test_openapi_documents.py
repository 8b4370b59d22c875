"""The published OpenAPI documents are valid OpenAPI 3.1 and say what every operation answers.

That docs/api/ matches the code is ``test_api_documents``; that every response the test suites
see is declared here is ``crm_kit.conformance`` (on in the services' integration tests, in
tests/security and in the cross-service integration, fault and recovery tests).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from crm_ops.apidocs import DOCS, SERVICES
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

DOCUMENTS = sorted(DOCS.glob("*.openapi.json"))


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


def test_every_service_has_a_document() -> None:
    assert {p.name for p in DOCUMENTS} == {f"{s}.openapi.json" for s in SERVICES}


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_the_document_is_valid_openapi_3_1(path: Path) -> None:
    document = json.loads(path.read_text())

    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_response_declares_its_correlation_id(path: Path) -> None:
    document = json.loads(path.read_text())
    missing = [
        f"{name} {status}"
        for name, operation in _operations(document)
        for status, response in operation["responses"].items()
        if "X-Correlation-ID" not in response.get("headers", {})
    ]
    assert missing == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_authenticated_operation_says_its_scopes_roles_and_refusals(path: Path) -> None:
    document = json.loads(path.read_text())
    incomplete = [
        name
        for name, operation in _operations(document)
        if operation.get("security")
        and not (
            operation.get("x-roles")
            and {"401", "403"} <= set(operation["responses"])
            and "WWW-Authenticate" in operation["responses"]["401"]["headers"]
        )
    ]
    assert incomplete == []


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_problem_is_problem_json_of_the_problem_schema(path: Path) -> None:
    document = json.loads(path.read_text())
    wrong = [
        f"{name} {status}"
        for name, operation in _operations(document)
        for status, response in operation["responses"].items()
        if status.startswith("4") or (status == "503" and "/readyz" not in name)
        for media, content in response.get("content", {}).items()
        if media not in ("text/html", "text/plain")
        and not (
            media == "application/problem+json"
            and content["schema"] == {"$ref": "#/components/schemas/Problem"}
        )
    ]
    assert wrong == []


def test_metrics_are_documented_as_prometheus_text() -> None:
    for path in DOCUMENTS:
        metrics = json.loads(path.read_text())["paths"]["/metrics"]["get"]
        assert list(metrics["responses"]["200"]["content"]) == ["text/plain; version=0.0.4"]
