"""The public pages of campaigns (/i/{token}, /q/{token}) take no bearer token: the signed link
is the credential. Forged, tampered, re-purposed and expired links are refused with a readable
page, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_campaigns.links import LinkPurpose, LinkSigner
from crm_kit.testing import JwtKeys, StackEndpoints

from .conftest import started

pytestmark = pytest.mark.integration

PAGES = {LinkPurpose.ANSWER: "/i/", LinkPurpose.QUESTIONNAIRE: "/q/"}
FORMS = {LinkPurpose.ANSWER: {"answer": "accepted"}, LinkPurpose.QUESTIONNAIRE: {"q1": "yes"}}


def _token(secret: str, purpose: LinkPurpose, *, now: datetime, ttl: timedelta) -> str:
    return LinkSigner(secret).sign(
        purpose, event_id="ev-forged", participant_id="pa-forged", now=now, ttl=ttl
    )


def _tampered(token: str) -> str:
    # Change one character of the payload, keep the signature.
    payload, _, signature = token.rpartition(".")
    flipped = payload[:-1] + ("A" if payload[-1] != "A" else "B")
    return f"{flipped}.{signature}"


async def _stored_documents(db: Any) -> int:
    names = await db.list_collection_names()
    return sum([await db[name].count_documents({}) for name in sorted(names)])


async def test_forged_tampered_repurposed_and_expired_links_are_refused(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    async with started("campaigns", stack, jwt_keys) as campaigns:
        secret = campaigns.app.state.settings.link_secret
        now = datetime.now(UTC)
        day = timedelta(days=1)
        stored_before = await _stored_documents(campaigns.db)
        failures = []
        for purpose, page in PAGES.items():
            other = next(p for p in PAGES if p is not purpose)
            genuine = _token(secret, purpose, now=now, ttl=day)
            cases = {
                "signed with another secret": (
                    _token("not-the-secret", purpose, now=now, ttl=day),
                    404,
                ),
                "tampered payload": (_tampered(genuine), 404),
                "a link made for the other page": (_token(secret, other, now=now, ttl=day), 404),
                "not a token": ("hello", 404),
                "expired": (_token(secret, purpose, now=now - 3 * day, ttl=day), 410),
                "forged and expired": (
                    _token("not-the-secret", purpose, now=now - 3 * day, ttl=day),
                    404,
                ),
            }
            for case, (token, status) in cases.items():
                for method in ("GET", "POST"):
                    response = await campaigns.api.request(
                        method, page + token, data=FORMS[purpose] if method == "POST" else None
                    )
                    kind = response.headers.get("content-type", "")
                    if response.status_code != status or not kind.startswith("text/html"):
                        failures.append(f"{method} {page}<{case}>: {response.status_code} {kind}")
        assert not failures, "\n".join(failures)
        assert await _stored_documents(campaigns.db) == stored_before
