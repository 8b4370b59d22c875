"""The profiler checks on the real store: a collection scan is found, an index read is not,
and watching one database leaves the server's own settings (its slow-operation threshold,
other databases' profiling) as they were."""

from __future__ import annotations

from typing import Any

from crm_kit.query_plans import READS_ALL, collection_scans, profile_every_operation


async def _server_profiling(db: Any) -> dict[str, Any]:
    answer = await db.client["admin"].command("profile", -1)
    return {k: answer.get(k) for k in ("was", "slowms", "sampleRate", "filter")}


async def test_scans_are_found_and_the_servers_own_settings_stay(mongo_db: Any) -> None:
    before = await _server_profiling(mongo_db)
    await mongo_db["things"].insert_many([{"_id": n, "size": n % 7} for n in range(50)])
    await mongo_db["things"].create_index("size")

    for scans_only in (True, False):
        await profile_every_operation(mongo_db, scans_only=scans_only)
        assert await _server_profiling(mongo_db) == before
        await mongo_db["things"].find({"size": 3}).to_list()
        await mongo_db["things"].find({"_id": {"$gt": 40}}).to_list()
        await mongo_db["things"].find({"name": "x"}).to_list()
        await mongo_db["things"].find({"name": "y"}, comment=READS_ALL).to_list()
        scans = await collection_scans(mongo_db)

        assert len(scans) == 1, scans
        assert "COLLSCAN" in scans[0]
        assert "'name': 'x'" in scans[0]
        assert await _server_profiling(mongo_db) == before
        settings = await mongo_db.command("profile", -1)
        assert settings["was"] == 0
        assert "filter" not in settings
