"""The public forms' counters, shared by every replica of the service through the store.

Posts are counted per key (a signed link's digest, a client address) in fixed windows: one
document per key and window, moved by one atomic upsert and removed by the store's TTL
monitor once its window is over. An event's anonymous questionnaire answers are counted in
one document per event, moved only while under the event's bound.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime

from crm_kit.runtime import Runtime
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from crm_campaigns.repository import ANONYMOUS_QUOTAS, PUBLIC_FORM_POSTS


class PublicFormPosts:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[PUBLIC_FORM_POSTS]

    async def count(
        self, limits: Mapping[str, int], *, now: datetime, window_s: int
    ) -> float | None:
        """Count one post against each key of ``limits`` (key → posts allowed per window);
        the seconds until the window ends when any key is over its limit, else None."""
        window = max(1, window_s)
        start = math.floor(now.timestamp() / window) * window
        ends_at = datetime.fromtimestamp(start + window, tz=now.tzinfo)
        over = False
        for key, limit in limits.items():
            doc = await self.collection.find_one_and_update(
                {"_id": f"{key}@{start}"},
                {"$inc": {"posts": 1}, "$setOnInsert": {"expires_at": ends_at}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            over = over or int((doc or {}).get("posts", 0)) > limit
        return max(1.0, (ends_at - now).total_seconds()) if over else None


class AnonymousQuotas:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[ANONYMOUS_QUOTAS]

    async def take(self, event_id: str, bound: int) -> bool:
        """Take one of the event's ``bound`` anonymous answers; False when none is left."""
        if bound <= 0:
            return False
        try:
            await self.collection.update_one(
                {"_id": event_id, "answers": {"$lt": bound}},
                {"$inc": {"answers": 1}},
                upsert=True,
            )
        except DuplicateKeyError:
            # The document exists and is at its bound: the filter missed and the upsert
            # tried to insert a second one with the same id.
            return False
        return True
