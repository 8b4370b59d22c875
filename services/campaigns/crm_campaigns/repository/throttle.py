"""The public forms' counters, shared by every replica of the service through the store.

Posts are counted per key (a signed link's digest, a client address) in a sliding window: one
document per key and fixed window, moved by one atomic upsert and removed by the store's TTL
monitor once the window after it is over. A post is weighed against the posts of its own
window and the previous window's, the latter in the share of that window still inside the
last ``window_s`` seconds, so a burst straddling two windows is held to the limit as well.
An event's anonymous questionnaire answers are counted in one document per event, moved only
while under the event's bound.
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
        """Count one post against each key of ``limits`` (key → posts allowed in any
        ``window_s`` seconds); the seconds until a post would be taken again when any key is
        over its limit, else None. Refused posts count too: a client that keeps posting keeps
        waiting."""
        window = max(1, window_s)
        start = math.floor(now.timestamp() / window) * window
        # The document of a window is the previous one of the next window: it is kept to the
        # end of that one.
        kept_to = datetime.fromtimestamp(start + 2 * window, tz=now.tzinfo)
        elapsed = now.timestamp() - start
        current: dict[str, int] = {}
        for key in limits:
            doc = await self.collection.find_one_and_update(
                {"_id": f"{key}@{start}"},
                {"$inc": {"posts": 1}, "$setOnInsert": {"expires_at": kept_to}},
                upsert=True,
                return_document=ReturnDocument.AFTER,
            )
            current[key] = int((doc or {}).get("posts", 0))
        key_of = {f"{key}@{start - window}": key for key in limits}
        previous = {
            key_of[doc["_id"]]: int(doc.get("posts", 0))
            async for doc in self.collection.find({"_id": {"$in": list(key_of)}})
        }
        waits = [
            wait
            for key, limit in limits.items()
            if (wait := _wait(limit, previous.get(key, 0), current[key], elapsed, window))
        ]
        return max(1.0, max(waits)) if waits else None


def _wait(limit: int, previous: int, current: int, elapsed: float, window: float) -> float:
    """The seconds until a post is taken again (0 when this one was), ``current`` posts
    (this one among them) made ``elapsed`` seconds into a window after ``previous`` posts in
    the window before: the previous window weighs in the share of it still inside the last
    ``window`` seconds."""
    if previous * (window - elapsed) / window + current <= limit:
        return 0.0
    if limit < 1:
        return window - elapsed
    if current + 1 <= limit:
        # Within this window, once enough of the previous one has slid out.
        return window * (1 - (limit - current - 1) / previous) - elapsed
    # In the next window, once enough of this one has slid out.
    return window - elapsed + max(0.0, window * (1 - (limit - 1) / current))


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
