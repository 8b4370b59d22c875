"""Each service's OpenAPI and AsyncAPI documents, written to docs/api/ and checked for staleness.

Building an app connects to nothing, so the documents come straight from the code.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crm_kit import access

SERVICES = ("contacts", "campaigns", "proposals", "notify")
ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "api"


def documents(service: str) -> dict[str, Any]:
    module = importlib.import_module(f"crm_{service}.app")
    settings_cls = getattr(module, f"{service.capitalize()}Settings")
    # Fixed settings, so the documents do not depend on the shell that generates them.
    # The broker as compose runs it: SCRAM-SHA-512 users (the password is never in a document).
    settings = settings_cls(
        environment="development",
        kafka_bootstrap="kafka:9092",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_username=f"crm-{service}",
        kafka_password="not-in-the-documents",  # noqa: S106 - never published
        jwt_public_key_file=None,
    )
    app = module.create(settings)
    return {
        f"{service}.openapi.json": app.openapi(),
        # crm_kit.asyncapi: channels per topic, the envelope, key and headers, the servers.
        f"{service}.asyncapi.json": app.state.asyncapi,
    }


def render(document: Any) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def stale(folder: Path = DOCS) -> list[str]:
    """Names of documents that differ from what the code produces now (or are missing)."""
    problems = []
    for service in SERVICES:
        for name, document in documents(service).items():
            path = folder / name
            if not path.exists() or path.read_text() != render(document):
                problems.append(name)
    return problems


def write(folder: Path = DOCS) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for service in SERVICES:
        for name, document in documents(service).items():
            path = folder / name
            path.write_text(render(document))
            written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="crm-apidocs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if a document is stale")
    args = parser.parse_args(argv)
    authorization = ROOT / "docs" / "authorization.md"
    if args.check:
        problems = stale()
        if not authorization.exists() or authorization.read_text() != access.render_markdown():
            print("docs/authorization.md is stale: run `uv run crm-apidocs`", file=sys.stderr)
            problems.append(authorization.name)
        for name in problems:
            print(f"docs/api/{name} is stale: run `uv run crm-apidocs`", file=sys.stderr)
        return 1 if problems else 0
    for path in write():
        print(path.relative_to(ROOT))
    authorization.write_text(access.render_markdown())
    print(authorization.relative_to(ROOT))
    return 0
