"""List cursors that callers cannot forge.

A repository pages by a position of its own making (a sort value and an id, encoded as it
likes). At the HTTP door that position is signed, ``<position>.<mac>``, with an HMAC-SHA256 over
the service, the route and the position under the service's ``cursor_secret``; a cursor coming
back is verified before the repository sees it. So a cursor edited to carry ``{"$ne": null}``,
or one copied from another list or service, never reaches a database filter: it is a 400
problem naming ``query.cursor``.

A route takes ``cursor: PageCursor`` and answers ``next_cursor=cursor.next(page.next_cursor)``,
handing ``cursor.position`` to the repository.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, Query, Request

from crm_kit.problems import FieldError, Problem

MAX_CURSOR_LENGTH: Final = 1024
"""Characters a cursor may have; the services' own are a few dozen."""

_MAC_BYTES = 16


class BadCursor(Problem):
    """A ``cursor`` this list did not issue."""

    status = 400
    title = "Bad cursor"
    slug = "bad-cursor"

    def __init__(self) -> None:
        super().__init__(
            "query.cursor: not a cursor this list issued; start again without one",
            errors=[
                FieldError(
                    field="query.cursor",
                    message="not a cursor this list issued",
                    type="cursor",
                )
            ],
        )


class CursorSigner:
    """Signs and verifies positions for one service under its secret."""

    def __init__(self, secret: str, service: str) -> None:
        self._key = secret.encode()
        self._service = service

    def _mac(self, scope: str, position: str) -> str:
        message = f"{self._service}\n{scope}\n{position}".encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, scope: str, position: str) -> str:
        return f"{position}.{self._mac(scope, position)}"

    def verify(self, scope: str, cursor: str) -> str:
        """The position inside ``cursor``; ``BadCursor`` unless this service signed it here."""
        position, dot, mac = cursor.rpartition(".")
        if not dot or not position or len(cursor) > MAX_CURSOR_LENGTH:
            raise BadCursor()
        if not hmac.compare_digest(mac.encode(), self._mac(scope, position).encode()):
            raise BadCursor()
        return position


@dataclass(frozen=True)
class Cursor:
    """The position a list request resumes from (``None``: the first page), and how to sign
    the position the next page starts from."""

    position: str | None
    signer: CursorSigner
    scope: str

    def next(self, position: str | None) -> str | None:
        return None if position is None else self.signer.sign(self.scope, position)


def signer_of(request: Request) -> CursorSigner:
    settings = request.app.state.settings
    return CursorSigner(settings.cursor_secret, settings.service_name)


def _scope(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


async def page_cursor(
    request: Request,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="The `next_cursor` of the previous page; leave out for the first.",
        ),
    ] = None,
) -> Cursor:
    signer = signer_of(request)
    scope = _scope(request)
    position = signer.verify(scope, cursor) if cursor else None
    return Cursor(position, signer, scope)


PageCursor = Annotated[Cursor, Depends(page_cursor)]
"""A list route's ``cursor`` query parameter, verified: ``cursor: PageCursor``."""
