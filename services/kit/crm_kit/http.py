"""HTTP helpers every service shares.

Optimistic concurrency: the version travels as an ETag and comes back in If-Match. List
pages: one ``limit`` parameter with one cap, so no caller can ask a service for an unbounded
page (``?limit=1000000`` is a 422 naming ``query.limit``).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from fastapi import Depends, Header, Query, Response

from crm_kit.problems import FieldError, InvalidInput, PreconditionRequired

_ETAG = re.compile(r'^(W/)?"?(\d+)"?$')


def parse_if_match(if_match: str | None) -> int:
    """The version named by ``If-Match``: missing → 428, unreadable → 422 naming the header."""
    if if_match is None or not if_match.strip():
        raise PreconditionRequired()
    found = _ETAG.match(if_match.strip())
    if found is None:
        raise InvalidInput(
            [
                FieldError(
                    field="header.if-match",
                    message=f'{if_match!r} is not an ETag this service issued (e.g. "3")',
                    type="etag",
                )
            ]
        )
    return int(found.group(2))


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The ETag (version) you read, e.g. "3"; required on every update.'),
    ] = None,
) -> int:
    return parse_if_match(if_match)


IfMatch = Annotated[int, Depends(expected_version)]
"""A route parameter holding the version an update is based on."""


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'


MAX_PAGE_SIZE: Final = 200
"""The most items one list page may hold, whatever the caller asks for."""

PageLimit = Annotated[
    int,
    Query(ge=1, le=MAX_PAGE_SIZE, description=f"Page size, 1 to {MAX_PAGE_SIZE}."),
]
"""A list route's ``limit`` query parameter, capped at ``MAX_PAGE_SIZE``:
``async def list_things(limit: PageLimit = 50)``."""
