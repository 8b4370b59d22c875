"""The benches' guest: a person with one e-mail address who consented to e-mail."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from crm_contracts.common import ChannelAddresses, ChannelConsent
from crm_contracts.contacts import PersonAdded
from crm_contracts.values import Channel, Language


def guest(n: int, email: str, client_id: str) -> PersonAdded:
    """``PersonAdded`` for guest ``n``, added a minute ago, reachable at ``email``."""
    at = datetime.now(UTC) - timedelta(minutes=1)
    return PersonAdded(
        client_id=client_id,
        person_id=str(uuid.uuid4()),
        name=f"Guest {n}",
        language=Language.EN,
        channels=ChannelAddresses(email=email),
        preferred_channel=Channel.EMAIL,
        version=1,
        consents=(ChannelConsent(channel=Channel.EMAIL, granted=True, at=at, source="bench"),),
        added_at=at,
    )
