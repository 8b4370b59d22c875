"""Ad-hoc messages asked for through ``POST /notifications``."""

from __future__ import annotations

import uuid

from crm_contracts.values import Channel, NotificationKind
from crm_kit.clock import utc_now
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_notify.domain import AD_HOC_SOURCE, IdempotencyKeyReused, request_fingerprint
from crm_notify.handlers import declared_variables
from crm_notify.repository.notifications import (
    find_notification,
    insert_notifications,
    new_notification,
)


async def send_ad_hoc(
    rt: Runtime,
    *,
    caller: str,
    recipient: Document,
    channel: Channel | None,
    subject: str,
    body: str,
    language: str | None,
    idempotency_key: str | None,
) -> tuple[Document, bool]:
    """Queue an ad-hoc message; returns the notification and whether it is new.

    With an ``Idempotency-Key`` the notification id is derived from the caller and the key, so
    a repeated request finds the first one; the same key with a different request is refused.
    """
    fingerprint = request_fingerprint(
        [recipient["kind"], recipient["id"], str(channel), subject, body, str(language)]
    )
    if idempotency_key is not None:
        source_id = f"adhoc:{caller}:{idempotency_key}"
        nid = str(uuid.uuid5(uuid.NAMESPACE_URL, source_id))
    else:
        nid = str(uuid.uuid4())
        source_id = f"adhoc:{nid}"
    existing = await find_notification(rt.db, nid)
    if existing is None:
        doc = new_notification(
            {
                "_id": nid,
                "kind": NotificationKind.AD_HOC.value,
                "recipient": recipient,
                "source": {"event_id": source_id, "event_type": AD_HOC_SOURCE},
                "variables": declared_variables(
                    NotificationKind.AD_HOC, {"subject": subject, "body": body}
                ),
                "event_id": None,
                "participant_id": None,
                "language_hint": language,
                "preferred_hint": channel.value if channel else None,
                "channel_hints": [],
                "address_channel": channel.value if channel else None,
                "calendar": None,
                "fingerprint": fingerprint,
                "requested_by": caller,
            },
            utc_now(),
        )
        if await insert_notifications(rt.db, [doc]) == 1:
            return doc, True
        existing = await find_notification(rt.db, nid)
        assert existing is not None
    if existing.get("fingerprint") != fingerprint:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key {idempotency_key!r} was used for a different request"
        )
    return existing, False
