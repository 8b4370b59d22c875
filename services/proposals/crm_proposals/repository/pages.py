"""Cursor pagination: the cursor is the last id of the page, lists are in id order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from crm_kit.outbox import Document
from pymongo.asynchronous.collection import AsyncCollection

from crm_proposals.repository import DEFAULT_PAGE, MAX_PAGE


async def page(
    collection: AsyncCollection[Document],
    query: Mapping[str, Any],
    cursor: str | None,
    limit: int | None,
) -> tuple[list[Document], str | None]:
    size = max(1, min(limit or DEFAULT_PAGE, MAX_PAGE))
    flt: dict[str, Any] = dict(query)
    if cursor:
        flt["_id"] = {"$gt": cursor}
    docs = [d async for d in collection.find(flt).sort("_id", 1).limit(size + 1)]
    more = len(docs) > size
    docs = docs[:size]
    return docs, (docs[-1]["_id"] if more and docs else None)
