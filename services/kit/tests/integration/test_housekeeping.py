"""The kit's own collections: TTL indexes that follow the settings, the outbox made before any
write, and the retention rules of any service (``crm_kit.retention``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_kit.audit import AUDIT
from crm_kit.consumer import PROCESSED
from crm_kit.housekeeping import (
    AUDIT_TTL_INDEX,
    FAILED_OUTBOX_TTL_INDEX,
    MARKER_TTL_INDEX,
    ensure_kit_indexes,
)
from crm_kit.outbox import OUTBOX
from crm_kit.relay import OUTBOX_FAILED
from crm_kit.retention import TtlRule, ensure_ttl_index
from crm_kit.settings import ServiceSettings
from crm_kit.testing import eventually


async def _indexes(db: Any, collection: str) -> dict[str, Any]:
    return {i["name"]: i async for i in await db[collection].list_indexes()}


async def _ttl(db: Any, collection: str, name: str) -> Any:
    index = (await _indexes(db, collection)).get(name)
    if index is None:
        return None
    return index.get("expireAfterSeconds"), dict(index["key"])


async def test_markers_expire_by_a_ttl_index_that_follows_the_setting(mongo_db: Any) -> None:
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=30))
    assert await _ttl(mongo_db, PROCESSED, MARKER_TTL_INDEX) == (30 * 86_400, {"at": 1})
    assert OUTBOX in await mongo_db.list_collection_names()

    # A changed setting moves the expiry of the existing index; a second start changes nothing.
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=0.5))
    await ensure_kit_indexes(mongo_db, ServiceSettings(processed_marker_ttl_days=0.5))
    assert await _ttl(mongo_db, PROCESSED, MARKER_TTL_INDEX) == (43_200, {"at": 1})


async def test_refused_events_expire_after_their_setting_and_audit_is_kept_by_default(
    mongo_db: Any,
) -> None:
    await ensure_kit_indexes(mongo_db, ServiceSettings())

    assert await _ttl(mongo_db, OUTBOX_FAILED, FAILED_OUTBOX_TTL_INDEX) == (
        180 * 86_400,
        {"failed_at": 1},
    )
    assert await _ttl(mongo_db, AUDIT, AUDIT_TTL_INDEX) is None


async def test_setting_the_audit_retention_adds_its_ttl_index(mongo_db: Any) -> None:
    await ensure_kit_indexes(mongo_db, ServiceSettings(audit_retention_days=3650))

    assert await _ttl(mongo_db, AUDIT, AUDIT_TTL_INDEX) == (3650 * 86_400, {"occurred_at": 1})


async def test_a_rule_set_to_zero_drops_its_index_and_keeps_the_documents(mongo_db: Any) -> None:
    rule = TtlRule("things", "done_at", 10, "done_at_ttl")
    await ensure_ttl_index(mongo_db, rule)
    await ensure_ttl_index(mongo_db, TtlRule("things", "done_at", 0, "done_at_ttl"))
    await ensure_ttl_index(mongo_db, TtlRule("things", "done_at", None, "done_at_ttl"))

    assert "done_at_ttl" not in await _indexes(mongo_db, "things")


async def test_a_rule_with_another_filter_makes_its_index_again(mongo_db: Any) -> None:
    await ensure_ttl_index(mongo_db, TtlRule("things", "done_at", 10, "done_at_ttl"))
    await ensure_ttl_index(
        mongo_db, TtlRule("things", "done_at", 20, "done_at_ttl", partial={"state": "done"})
    )

    index = (await _indexes(mongo_db, "things"))["done_at_ttl"]
    assert index["expireAfterSeconds"] == 20 * 86_400
    assert dict(index["partialFilterExpression"]) == {"state": "done"}


async def test_the_store_removes_what_is_older_than_the_rule_and_only_that(mongo_db: Any) -> None:
    now = datetime.now(UTC)
    things = mongo_db["things"]
    await things.insert_many(
        [
            {"_id": "old", "done_at": now - timedelta(days=2)},
            {"_id": "new", "done_at": now},
            {"_id": "undated"},
        ]
    )
    await ensure_ttl_index(mongo_db, TtlRule("things", "done_at", 1, "done_at_ttl"))

    async def old_gone() -> bool:
        return await things.count_documents({"_id": "old"}) == 0

    # The store's TTL monitor runs once a minute.
    await eventually(old_gone, within=150, interval=2, what="the TTL monitor removes 'old'")
    assert sorted([d["_id"] async for d in things.find()]) == ["new", "undated"]
