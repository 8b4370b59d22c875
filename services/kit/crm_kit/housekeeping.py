"""The kit's own collections in every service database, and their indexes.

- ``processed_events``: the idempotent consumer's markers, expired by a TTL index on ``at``.
- ``outbox``: events not yet published, read in ``_id`` order (the default index).
- ``outbox_lease``: one document, the relay's lease.
"""

from __future__ import annotations

import contextlib

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

from crm_kit.consumer import PROCESSED
from crm_kit.outbox import OUTBOX, Document
from crm_kit.settings import ServiceSettings

MARKER_TTL_INDEX = "at_ttl"


async def ensure_kit_indexes(db: AsyncDatabase[Document], settings: ServiceSettings) -> None:
    # The outbox exists before the first transaction writes to it: concurrent transactions
    # that each create it conflict and are retried.
    with contextlib.suppress(CollectionInvalid):
        await db.create_collection(OUTBOX)
    seconds = int(settings.processed_marker_ttl_days * 86_400)
    markers = db[PROCESSED]
    existing = {i["name"]: i async for i in await markers.list_indexes()}
    current = existing.get(MARKER_TTL_INDEX)
    if current is not None and current.get("expireAfterSeconds") != seconds:
        # A changed setting: collMod changes the expiry in place (no rebuild).
        await db.command(
            "collMod",
            PROCESSED,
            index={"name": MARKER_TTL_INDEX, "expireAfterSeconds": seconds},
        )
        return
    if current is None:
        await markers.create_index("at", name=MARKER_TTL_INDEX, expireAfterSeconds=seconds)
