"""What the routers share: scopes, If-Match/ETag handling, list limits."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.http import IfMatch, PageLimit, expected_version, set_etag
from fastapi import Depends, Query

Reader = Annotated[Principal, Depends(requires("campaigns:read"))]
Writer = Annotated[Principal, Depends(requires("campaigns:write"))]
Limit = PageLimit
Cursor = Annotated[str | None, Query(description="The next_cursor of the previous page")]


etag = set_etag

__all__ = ["Cursor", "IfMatch", "Limit", "Reader", "Writer", "etag", "expected_version"]
