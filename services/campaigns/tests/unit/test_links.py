"""Signed public links: genuine, forged, expired, and not reusable across purposes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from crm_campaigns.links import ExpiredLink, InvalidLink, LinkPurpose, LinkSigner

NOW = datetime(2031, 1, 1, tzinfo=UTC)


def token(signer: LinkSigner, ttl: timedelta = timedelta(days=1)) -> str:
    return signer.sign(LinkPurpose.ANSWER, event_id="e", participant_id="p", now=NOW, ttl=ttl)


def test_a_genuine_link_names_its_event_and_participant() -> None:
    signer = LinkSigner("secret")
    claims = signer.verify(LinkPurpose.ANSWER, token(signer), now=NOW)
    assert (claims.event_id, claims.participant_id) == ("e", "p")


def test_a_forged_or_foreign_link_is_refused() -> None:
    genuine = token(LinkSigner("secret"))
    with pytest.raises(InvalidLink):
        LinkSigner("other").verify(LinkPurpose.ANSWER, genuine, now=NOW)
    with pytest.raises(InvalidLink):
        LinkSigner("secret").verify(LinkPurpose.ANSWER, genuine[:-2] + "xx", now=NOW)
    with pytest.raises(InvalidLink):
        LinkSigner("secret").verify(LinkPurpose.QUESTIONNAIRE, genuine, now=NOW)


def test_an_expired_link_is_told_apart() -> None:
    signer = LinkSigner("secret")
    with pytest.raises(ExpiredLink):
        signer.verify(LinkPurpose.ANSWER, token(signer), now=NOW + timedelta(days=2))
