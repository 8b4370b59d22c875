"""What the routers share: scopes, If-Match and ETag, pagination parameters."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.cursors import PageCursor
from crm_kit.http import IfMatch, expected_version, set_etag
from fastapi import Depends, Query

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

__all__ = [
    "Admin",
    "Cursor",
    "IfMatch",
    "Insist",
    "Limit",
    "Reader",
    "Writer",
    "expected_version",
    "set_etag",
]
