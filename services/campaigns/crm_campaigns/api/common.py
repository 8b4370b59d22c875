"""What the routers share: scopes, If-Match/ETag handling, list limits."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.problems import FieldError, InvalidInput, PreconditionRequired
from fastapi import Depends, Header, Query, Response

Reader = Annotated[Principal, Depends(requires("campaigns:read"))]
Writer = Annotated[Principal, Depends(requires("campaigns:write"))]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size")]
Cursor = Annotated[str | None, Query(description="The next_cursor of the previous page")]


def expected_version(if_match: Annotated[str | None, Header()] = None) -> int:
    """The version an update is based on, from ``If-Match: "<version>"``."""
    if if_match is None:
        raise PreconditionRequired()
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit():
        raise InvalidInput(
            [
                FieldError(
                    field="header.if-match",
                    message='expected the ETag this API gave, e.g. "3"',
                    type="etag",
                )
            ]
        )
    return int(raw)


IfMatch = Annotated[int, Depends(expected_version)]


def etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
