"""The committed API documents in docs/api/ match what the code produces."""

from __future__ import annotations

from crm_ops.apidocs import SERVICES, documents, stale


def test_every_committed_api_document_is_current() -> None:
    assert stale() == [], "regenerate with `uv run crm-apidocs` and commit docs/api/"


def test_every_service_documents_its_health_routes_and_events() -> None:
    for service in SERVICES:
        docs = documents(service)
        openapi = docs[f"{service}.openapi.json"]
        assert {"/healthz", "/readyz", "/metrics", "/asyncapi"} <= set(openapi["paths"])
        assert docs[f"{service}.asyncapi.json"]["asyncapi"].startswith("3.")
