"""Signed public links: the invitation answer (/i/) and the questionnaire (/q/).

itsdangerous signs a small payload with HMAC-SHA1 over the service's link secret and a
per-purpose salt, so an answer token cannot be replayed as a questionnaire token. The expiry
sits in the signed payload (not the signer's clock) so it can be checked against an injected
``now``. Forged and expired tokens raise distinct errors, for distinct pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer


class LinkPurpose(StrEnum):
    ANSWER = "invitation-answer"
    QUESTIONNAIRE = "questionnaire"


class InvalidLink(ValueError):
    """The token was not made by this service (or was tampered with)."""


class ExpiredLink(ValueError):
    """The token was genuine but is past its expiry."""


@dataclass(frozen=True)
class LinkClaims:
    event_id: str
    participant_id: str | None
    """``None`` for the anonymous per-event questionnaire link."""
    expires_at: datetime


class LinkSigner:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def _serializer(self, purpose: LinkPurpose) -> URLSafeSerializer:
        return URLSafeSerializer(self._secret, salt=purpose.value)

    def sign(
        self,
        purpose: LinkPurpose,
        *,
        event_id: str,
        participant_id: str | None,
        now: datetime,
        ttl: timedelta,
    ) -> str:
        payload = {"e": event_id, "p": participant_id, "x": int((now + ttl).timestamp())}
        token: str = self._serializer(purpose).dumps(payload)
        return token

    def verify(self, purpose: LinkPurpose, token: str, *, now: datetime) -> LinkClaims:
        try:
            payload: Any = self._serializer(purpose).loads(token)
            claims = LinkClaims(
                event_id=str(payload["e"]),
                participant_id=None if payload["p"] is None else str(payload["p"]),
                expires_at=datetime.fromtimestamp(int(payload["x"]), tz=now.tzinfo),
            )
        except (BadSignature, KeyError, TypeError, ValueError) as exc:
            raise InvalidLink("this link is not one this service made") from exc
        if now >= claims.expires_at:
            raise ExpiredLink("this link has expired")
        return claims


class FeedSigner:
    """Tokens of subscribable calendar feeds: the feed's id, signed. What a feed shows, its
    expiry and whether it was revoked are kept with the feed, so a link can be withdrawn."""

    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt="calendar-feed")

    def sign(self, feed_id: str) -> str:
        token: str = self._serializer.dumps({"f": feed_id})
        return token

    def verify(self, token: str) -> str:
        try:
            payload: Any = self._serializer.loads(token)
            return str(payload["f"])
        except (BadSignature, KeyError, TypeError, ValueError) as exc:
            raise InvalidLink("this feed link is not one this service made") from exc
