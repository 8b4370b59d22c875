"""What every router shares: scopes, the caller, If-Match and ETag."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.http import MAX_ETAG_LENGTH, set_etag
from crm_kit.http import parse_if_match as expected_version
from fastapi import Depends, Header

from crm_proposals.commands import Caller

READ = "proposals:read"
WRITE = "proposals:write"
ADMIN = "proposals:admin"

Reader = Annotated[Principal, Depends(requires(READ))]
Writer = Annotated[Principal, Depends(requires(WRITE))]
Admin = Annotated[Principal, Depends(requires(ADMIN))]
IfMatch = Annotated[
    str | None,
    Header(
        max_length=MAX_ETAG_LENGTH,
        description='The version read, as its ETag (`"3"`); required on every update.',
    ),
]


def caller_of(principal: Principal) -> Caller:
    return Caller(
        subject=principal.subject,
        admin=ADMIN in principal.scopes,
        employee_id=principal.employee_id,
        roles=principal.roles,
    )


__all__ = [
    "Admin",
    "IfMatch",
    "Reader",
    "Writer",
    "caller_of",
    "expected_version",
    "set_etag",
]
