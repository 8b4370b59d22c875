"""What the routers share: scopes, If-Match/ETag handling, list limits."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.cursors import PageCursor
from crm_kit.http import IfMatch, PageLimit, expected_version, set_etag
from fastapi import Depends

Reader = Annotated[Principal, Depends(requires("campaigns:read"))]
Writer = Annotated[Principal, Depends(requires("campaigns:write"))]
Limit = PageLimit
Cursor = PageCursor
"""A list's ``cursor``, verified: hand ``cursor.position`` to the repository, answer
``cursor.next(page.next_cursor)``."""


etag = set_etag

__all__ = ["Cursor", "IfMatch", "Limit", "Reader", "Writer", "etag", "expected_version"]
