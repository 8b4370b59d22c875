"""A person unsubscribing through the link of a marketing message (``/u/{token}``).

Notify stops using the channel for the person at once (its own projection of the person's
consent), and publishes ``UnsubscribeRequested`` in the same transaction; contacts, which owns
consent, withdraws it and tells every service with a ``ConsentChanged``.
"""

from __future__ import annotations

from crm_contracts.notify import UnsubscribeRequested
from crm_contracts.values import Language, RecipientKind, UnsubscribeMethod
from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_notify.handlers import settings_of
from crm_notify.links import UnsubscribeClaims, UnsubscribeSigner
from crm_notify.repository import recipient_key, recipients


def verify(rt: Runtime, token: str) -> UnsubscribeClaims:
    """The claims of a genuine token; ``InvalidUnsubscribeLink`` for any other."""
    return UnsubscribeSigner(settings_of(rt).link_secret).verify(token)


async def language_of(rt: Runtime, claims: UnsubscribeClaims) -> Language:
    key = recipient_key(RecipientKind.PERSON, claims.person_id)
    return await recipients.recipient_language(rt.db, key) or settings_of(rt).default_language


async def unsubscribe(rt: Runtime, claims: UnsubscribeClaims, method: UnsubscribeMethod) -> bool:
    """Withdraw the channel for the person; ``False`` when it was withdrawn already (nothing
    is written or published again, so a repeated request changes nothing)."""
    key = recipient_key(RecipientKind.PERSON, claims.person_id)
    now = utc_now()
    event = UnsubscribeRequested(
        client_id=claims.client_id,
        person_id=claims.person_id,
        channel=claims.channel,
        requested_at=now,
        method=method,
        notification_id=claims.notification_id,
    )

    async def work(session: AsyncClientSession) -> bool:
        if not await recipients.withdraw_for_unsubscribe(rt.db, key, claims.channel, now, session):
            return False
        await rt.events.add(session, rt.events.entries([event]))
        return True

    return await rt.events.transaction(work)
