"""What every router shares: scopes, the caller, If-Match and ETag."""

from __future__ import annotations

import re
from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.problems import FieldError, InvalidInput, PreconditionRequired
from fastapi import Depends, Header, Response

from crm_proposals.commands import Caller

READ = "proposals:read"
WRITE = "proposals:write"
ADMIN = "proposals:admin"

Reader = Annotated[Principal, Depends(requires(READ))]
Writer = Annotated[Principal, Depends(requires(WRITE))]
Admin = Annotated[Principal, Depends(requires(ADMIN))]
IfMatch = Annotated[
    str | None,
    Header(description='The version read, as its ETag (`"3"`); required on every update.'),
]
_ETAG = re.compile(r'^(W/)?"?(\d+)"?$')


def caller_of(principal: Principal) -> Caller:
    return Caller(subject=principal.subject, admin=ADMIN in principal.scopes)


def expected_version(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired()
    found = _ETAG.match(if_match.strip())
    if found is None:
        raise InvalidInput(
            [FieldError(field="header.if-match", message="not an ETag of this API", type="etag")]
        )
    return int(found.group(2))


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = f'"{version}"'
