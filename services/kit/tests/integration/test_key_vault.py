"""The key vault on the real store: several subjects' keys with one read, made on first use,
none for an erased subject, and producers racing to make the same keys agree on one each."""

from __future__ import annotations

import asyncio
from typing import Any

from crm_kit.sealing import DATA_KEYS, KeyVault

SECRET = "test-master-secret-of-the-key-vault"


async def test_keys_for_several_subjects_are_made_once_and_kept_and_erased_ones_stay_none(
    mongo_db: Any,
) -> None:
    vault = KeyVault(mongo_db, SECRET)
    kept = (await vault.keys_for(["person:kept", "person:gone"]))["person:kept"]
    await vault.destroy(["person:gone"])
    keys = await vault.keys_for(["person:kept", "person:gone", "person:new", "person:new"])
    assert set(keys) == {"person:kept", "person:gone", "person:new"}
    assert keys["person:kept"] == kept
    assert keys["person:gone"] is None
    assert keys["person:new"] is not None
    again = await KeyVault(mongo_db, SECRET).keys_for(["person:new", "person:gone"])
    assert again == {"person:new": keys["person:new"], "person:gone": None}
    assert await mongo_db[DATA_KEYS].count_documents({}) == 3
    assert await vault.keys_for([]) == {}


async def test_producers_making_the_same_keys_at_once_end_with_one_key_each(
    mongo_db: Any,
) -> None:
    subjects = [f"person:race-{n}" for n in range(50)]
    vaults = [KeyVault(mongo_db, SECRET) for _ in range(4)]
    answers = await asyncio.gather(*(v.keys_for(subjects) for v in vaults))
    assert all(answer == answers[0] for answer in answers)
    assert all(answers[0][s] is not None for s in subjects)
    assert await mongo_db[DATA_KEYS].count_documents({}) == len(subjects)
