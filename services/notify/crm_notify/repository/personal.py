"""Notify's copies of one person: the recipient projection and the delivery log."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.personal import ERASED
from crm_contracts.values import Channel, RecipientKind
from crm_kit.outbox import Document
from crm_kit.sealing import FORGOTTEN_VERSION
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.repository import NOTIFICATIONS, RECIPIENTS, recipient_key
from crm_notify.repository.notifications import LOG_KEYS, recipient_log_key


def _theirs(person_id: str) -> Document:
    return {LOG_KEYS: recipient_log_key(person_id), "recipient.kind": RecipientKind.PERSON.value}


async def forget_person(db: AsyncDatabase[Document], person_id: str, at: datetime) -> None:
    """Nothing to reach them by (a pending message to them fails: no usable channel), and
    the delivery log keeps that a message went, not where."""
    await db[NOTIFICATIONS].update_many(
        {**_theirs(person_id), "$or": [{"address": {"$ne": None}}, {"last_error": {"$ne": None}}]},
        {"$set": {"address": None, "last_error": None}},
    )
    # The copy is marked erased last: its mark says that everything else is gone.
    await db[RECIPIENTS].update_one(
        {"_id": recipient_key(RecipientKind.PERSON, person_id)},
        {
            "$set": {
                "kind": RecipientKind.PERSON.value,
                "name": ERASED,
                "language": "ru",
                "channels": {c.value: None for c in Channel},
                "preferred": None,
                "consents": {},
                "active": False,
                "erased_at": at,
                "version": FORGOTTEN_VERSION,
            }
        },
        upsert=True,
    )


async def held_about(db: AsyncDatabase[Document], person_id: str) -> dict[str, list[Document]]:
    recipient = await db[RECIPIENTS].find_one(
        {"_id": recipient_key(RecipientKind.PERSON, person_id)}
    )
    sent = await db[NOTIFICATIONS].find(_theirs(person_id)).sort("seq", -1).to_list()
    return {"recipient": [recipient] if recipient else [], "notifications": sent}
