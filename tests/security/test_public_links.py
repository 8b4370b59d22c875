"""The public pages of campaigns (/i/{token}, /q/{token}, /feeds/plan-schedule/{token}.ics)
take no bearer token: the signed link is the credential. Forged, tampered, re-purposed, expired
and revoked links are refused with a readable page, and nothing is stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from crm_campaigns.links import FeedSigner, LinkPurpose, LinkSigner
from crm_campaigns.repository import (
    EFFECTIVENESS,
    EVENT_CONTACTS,
    NEEDS,
    NEW_CLIENTS,
    PARTICIPANTS,
    RESPONSES,
)
from crm_kit.testing import JwtKeys, StackEndpoints, bearer

from .conftest import service_scopes, started

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


ANSWERS_LAND_IN = (PARTICIPANTS, RESPONSES, EFFECTIVENESS, NEEDS, NEW_CLIENTS, EVENT_CONTACTS)
"""What an accepted answer or questionnaire writes to. (Not every collection: the service's
consumers keep projecting other tests' people and employees from the shared topics meanwhile.)"""


async def _stored_documents(db: Any) -> int:
    return sum([await db[name].count_documents({}) for name in ANSWERS_LAND_IN])


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


async def test_forged_tampered_and_revoked_calendar_feed_links_are_refused(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    async with started("campaigns", stack, jwt_keys) as campaigns:
        admin = bearer(jwt_keys, *sorted(service_scopes("campaigns")))
        created = await campaigns.api.post("/calendar-feeds", json={}, headers=admin)
        assert created.status_code == 201, created.text
        feed = created.json()
        genuine = await campaigns.api.get(feed["path"])
        assert genuine.status_code == 200
        assert genuine.headers["content-type"].startswith("text/calendar")

        token = feed["path"].removeprefix("/feeds/plan-schedule/").removesuffix(".ics")
        forged = {
            "signed with another secret": FeedSigner("not-the-secret").sign(feed["id"]),
            "tampered payload": _tampered(token),
            "an invitation link": LinkSigner(campaigns.app.state.settings.link_secret).sign(
                LinkPurpose.ANSWER,
                event_id=feed["id"],
                participant_id=None,
                now=datetime.now(UTC),
                ttl=timedelta(days=1),
            ),
            "not a token": "hello",
        }
        for case, bad in forged.items():
            response = await campaigns.api.get(f"/feeds/plan-schedule/{bad}.ics")
            assert response.status_code == 404, case
            assert "BEGIN:VCALENDAR" not in response.text, case

        revoked = await campaigns.api.delete(f"/calendar-feeds/{feed['id']}", headers=admin)
        assert revoked.status_code == 200, revoked.text
        after = await campaigns.api.get(feed["path"])
        assert after.status_code == 410
        assert "BEGIN:VCALENDAR" not in after.text
