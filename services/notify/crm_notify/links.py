"""Signed unsubscribe links (``/u/{token}``), carried by every marketing message.

The same scheme as campaigns' public links: itsdangerous signs a small payload with HMAC over
the service's link secret and a salt of its own, so no other signed token of the system can be
replayed as an unsubscribe one. The token names the person, their client and the channel of
the message (and the message itself). It has no expiry: an unsubscribe link must keep working
as long as the message may be read, and all it can ever do is withdraw one consent.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from crm_contracts.values import Channel
from itsdangerous import BadSignature, URLSafeSerializer
from itsdangerous.encoding import base64_encode

from crm_notify.domain import NotifyError

SALT = "unsubscribe"


class InvalidUnsubscribeLink(NotifyError):
    """The token was not made by this service (or was tampered with)."""

    field = "path.token"


@dataclass(frozen=True)
class UnsubscribeClaims:
    person_id: str
    client_id: str
    channel: Channel
    notification_id: str | None = None


class UnsubscribeSigner:
    def __init__(self, secret: str) -> None:
        self._serializer = URLSafeSerializer(secret, salt=SALT)
        # The serializer's own signer, its key derived once: ``dumps`` makes a signer and
        # derives the key again for every token (a sixth of a link's CPU). The token is the
        # same (a unit test compares them).
        signer = self._serializer.make_signer()
        self._mac = hmac.new(signer.derive_key(), digestmod=signer.digest_method)
        self._sep = signer.sep

    def sign(self, claims: UnsubscribeClaims) -> str:
        payload = self._serializer.dump_payload(
            {
                "p": claims.person_id,
                "c": claims.client_id,
                "ch": claims.channel.value,
                "n": claims.notification_id,
            }
        )
        mac = self._mac.copy()
        mac.update(payload)
        return (payload + self._sep + base64_encode(mac.digest())).decode()

    def verify(self, token: str) -> UnsubscribeClaims:
        try:
            payload: Any = self._serializer.loads(token)
            claims = UnsubscribeClaims(
                person_id=_text(payload["p"]),
                client_id=_text(payload["c"]),
                channel=Channel(payload["ch"]),
                notification_id=None if payload.get("n") is None else _text(payload["n"]),
            )
        except (BadSignature, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidUnsubscribeLink("this unsubscribe link is not one notify made") from exc
        return claims


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("not an id")
    return value


class UnsubscribeLinks:
    """The public unsubscribe URLs of this service: its base URL and its signer."""

    def __init__(self, secret: str, public_base_url: str) -> None:
        self.signer = UnsubscribeSigner(secret)
        self.base = public_base_url.rstrip("/")

    def url(self, claims: UnsubscribeClaims) -> str:
        return f"{self.base}/u/{self.signer.sign(claims)}"
