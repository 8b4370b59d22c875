"""The kit's own collections in every service database, and their indexes.

- ``processed_events``: the idempotent consumer's markers, expired by a TTL index on ``at``.
- ``outbox``: events not yet published, read in ``_id`` order (the default index).
- ``outbox_lease``: one document, the relay's lease.
- ``outbox_failed``: events the broker refused for good, kept for an operator; expired by a
  TTL index on ``failed_at`` (``failed_outbox_retention_days``).
- ``audit``: who changed what; expired by a TTL index on ``occurred_at`` only when
  ``audit_retention_days`` is set (kept for ever by default).
"""

from __future__ import annotations

import contextlib

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

from crm_kit.audit import AUDIT
from crm_kit.consumer import PROCESSED
from crm_kit.outbox import OUTBOX, Document
from crm_kit.relay import OUTBOX_FAILED
from crm_kit.retention import TtlRule, ensure_ttl_indexes
from crm_kit.settings import ServiceSettings

MARKER_TTL_INDEX = "at_ttl"
FAILED_OUTBOX_TTL_INDEX = "failed_at_ttl"
AUDIT_TTL_INDEX = "occurred_at_ttl"


def kit_retention(settings: ServiceSettings) -> list[TtlRule]:
    """What every service keeps for a limited time, whatever its domain."""
    return [
        TtlRule(PROCESSED, "at", settings.processed_marker_ttl_days, MARKER_TTL_INDEX),
        TtlRule(
            OUTBOX_FAILED,
            "failed_at",
            settings.failed_outbox_retention_days,
            FAILED_OUTBOX_TTL_INDEX,
        ),
        TtlRule(AUDIT, "occurred_at", settings.audit_retention_days, AUDIT_TTL_INDEX),
    ]


async def ensure_kit_indexes(db: AsyncDatabase[Document], settings: ServiceSettings) -> None:
    # The outbox exists before the first transaction writes to it: concurrent transactions
    # that each create it conflict and are retried.
    with contextlib.suppress(CollectionInvalid):
        await db.create_collection(OUTBOX)
    await ensure_ttl_indexes(db, kit_retention(settings))
