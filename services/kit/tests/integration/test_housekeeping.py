"""The kit's own collections: the markers' TTL index and the outbox made before any write."""

from __future__ import annotations

from typing import Any

from crm_kit.consumer import PROCESSED
from crm_kit.housekeeping import MARKER_TTL_INDEX, ensure_kit_indexes
from crm_kit.outbox import OUTBOX
from crm_kit.settings import ServiceSettings


async def _ttl(db: Any) -> Any:
    indexes = {i["name"]: i async for i in await db[PROCESSED].list_indexes()}
    return indexes[MARKER_TTL_INDEX].get("expireAfterSeconds"), indexes[MARKER_TTL_INDEX]["key"]


async def test_markers_expire_by_a_ttl_index_that_follows_the_setting(mongo_db: Any) -> None:
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=30))
    assert await _ttl(mongo_db) == (30 * 86_400, {"at": 1})
    assert OUTBOX in await mongo_db.list_collection_names()

    # A changed setting moves the expiry of the existing index; a second start changes nothing.
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=0.5))
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=0.5))
    assert await _ttl(mongo_db) == (43_200, {"at": 1})
