"""A collection's stored format, and the one-time upgrade of what an older version stored.

A service that changes what its documents hold or which indexes serve them raises the
collection's format number; its start-up runs the upgrade (drops, backfills) when the number
recorded in ``store_format`` is another, then records the new one. An upgrade is written to be
run twice or by two instances at once with the same result: the record is written after it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from crm_kit.outbox import Document

FORMATS = "store_format"
"""One record per upgraded collection: ``{_id: <collection>, format: <number>}``."""
INDEX_NOT_FOUND = 27


async def stored_format(db: AsyncDatabase[Document], collection: str) -> int | None:
    done = await db[FORMATS].find_one({"_id": collection})
    return None if done is None else int(done.get("format", 0))


async def upgrade_once(
    db: AsyncDatabase[Document],
    collection: str,
    version: int,
    upgrade: Callable[[], Awaitable[None]],
) -> bool:
    """Run ``upgrade`` unless ``collection`` is recorded at ``version``; returns whether it ran."""
    if await stored_format(db, collection) == version:
        return False
    await upgrade()
    await db[FORMATS].update_one({"_id": collection}, {"$set": {"format": version}}, upsert=True)
    return True


async def drop_indexes(collection: AsyncCollection[Document], names: Iterable[str]) -> None:
    """Drop the named indexes; one already gone (dropped before, or never made) is no error."""
    for name in names:
        try:
            await collection.drop_index(name)
        except OperationFailure as exc:
            if exc.code != INDEX_NOT_FOUND:
                raise
