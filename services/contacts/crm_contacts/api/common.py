"""What the routers share: scopes, If-Match and ETag, pagination parameters."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.problems import FieldError, InvalidInput, PreconditionRequired
from fastapi import Depends, Header, Query, Response

Reader = Annotated[Principal, Depends(requires("contacts:read"))]
Writer = Annotated[Principal, Depends(requires("contacts:write"))]
Admin = Annotated[Principal, Depends(requires("contacts:admin"))]

Limit = Annotated[int, Query(ge=1, le=200, description="Page size.")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page.")
]
Insist = Annotated[
    bool, Query(description="Register even though likely duplicates exist (they are listed).")
]


def expected_version(
    if_match: Annotated[
        str | None,
        Header(description="The ETag (version) you read; required on every update."),
    ] = None,
) -> int:
    """The version named by ``If-Match``: missing → 428, unreadable → 422 naming the header."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired()
    value = if_match.strip().removeprefix("W/").strip('"')
    if not value.isdigit():
        raise InvalidInput(
            [
                FieldError(
                    field="header.if-match",
                    message=f"{if_match!r} is not an ETag this service issued",
                    type="value_error",
                )
            ]
        )
    return int(value)


IfMatch = Annotated[int, Depends(expected_version)]


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
