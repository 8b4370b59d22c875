"""What the routers share: scopes, If-Match and ETag, pagination parameters, bounded uploads."""

from __future__ import annotations

from typing import Annotated, Any

from crm_kit.auth import Principal, requires
from crm_kit.cursors import PageCursor
from crm_kit.http import IfMatch, expected_version, set_etag
from crm_kit.problems import PayloadTooLarge
from fastapi import Depends, Query, Request

Reader = Annotated[Principal, Depends(requires("contacts:read"))]
Writer = Annotated[Principal, Depends(requires("contacts:write"))]
Admin = Annotated[Principal, Depends(requires("contacts:admin"))]

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = PageCursor
"""A list's ``cursor``, verified: hand ``cursor.position`` to the handler, answer
``cursor.next(page.next_cursor)``."""
Insist = Annotated[
    bool, Query(description="Register even though likely duplicates exist (they are listed).")
]

MAX_CSV_BYTES = 2_000_000
"""An uploaded table's limit, below the service-wide one of the kit's ``BodySizeLimit``."""


async def bounded_body(request: Request, max_bytes: int) -> bytes:
    """The request body, refused with 413 (problem+json) as soon as it passes ``max_bytes``:
    a declared length at once, a streamed body as it arrives."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def table_upload(*media_types: str) -> dict[str, Any]:
    """The OpenAPI request body of a table upload: CSV text, and any other ``media_types``
    (binary)."""
    content: dict[str, Any] = {"text/csv": {"schema": {"type": "string"}}}
    for media_type in media_types:
        content[media_type] = {"schema": {"type": "string", "format": "binary"}}
    return {"requestBody": {"required": True, "content": content}}


__all__ = [
    "MAX_CSV_BYTES",
    "Admin",
    "Cursor",
    "IfMatch",
    "Insist",
    "Limit",
    "Reader",
    "Writer",
    "bounded_body",
    "expected_version",
    "set_etag",
    "table_upload",
]
