"""HTTP helpers every service shares.

Optimistic concurrency: the version travels as an ETag and comes back in If-Match. List
pages: one ``limit`` parameter with one cap, so no caller can ask a service for an unbounded
page (``?limit=1000000`` is a 422 naming ``query.limit``).
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from fastapi import Depends, Header, Path, Query, Response
from pydantic import Field

from crm_kit.problems import FieldError, InvalidInput, PreconditionRequired

_ETAG = re.compile(r'^(W/)?"?(\d{1,10})"?$')
MAX_ETAG_LENGTH: Final = 64


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
                    message=f'{if_match[:40]!r} is not an ETag this service issued (e.g. "3")',
                    type="etag",
                )
            ]
        )
    return int(found.group(2))


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(
            max_length=MAX_ETAG_LENGTH,
            description='The ETag (version) you read, e.g. "3"; required on every update.',
        ),
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


MAX_ID_LENGTH: Final = 64
"""The longest identifier a path or filter takes (the services issue 36-character UUIDs)."""

IdPath = Annotated[str, Path(min_length=1, max_length=MAX_ID_LENGTH)]
"""An identifier in the path: ``async def get_client(client_id: IdPath)``."""

IdQuery = Annotated[str | None, Query(max_length=MAX_ID_LENGTH)]
"""An optional identifier filter: ``client_id: IdQuery = None``."""

LabelQuery = Annotated[str | None, Query(max_length=100)]
"""An optional filter by a kind, a role, a tag or a status word."""

BoundedLabel = Annotated[str, Field(max_length=100)]
"""One value of a repeated filter: ``tag: Annotated[list[BoundedLabel], Query(max_length=20)]``."""

LabelPath = Annotated[str, Path(min_length=1, max_length=100)]
"""A kind or a label in the path (``/task-templates/{kind}``)."""

CodePath = Annotated[str, Path(min_length=1, max_length=64)]
"""A code in the path (``/catalog/{code}``)."""
