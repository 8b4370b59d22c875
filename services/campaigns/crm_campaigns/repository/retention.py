"""The queries of the participants' retention job (``handlers.retention``).

An event whose participants were removed carries ``participants_removed_at``; the job reads
the events without it that ended before the cutoff (index ``participants_retention``, where
the missing field is the null the query names). Each event is judged and cleared in one
transaction: two replicas running the job at once clear it once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from crm_kit.runtime import Runtime
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.repository import EVENTS, PARTICIPANTS
from crm_campaigns.repository.documents import event_of
from crm_campaigns.repository.responses import Responses

REMOVED_AT = "participants_removed_at"
INDEX = IndexModel([(REMOVED_AT, ASCENDING), ("ends_at", ASCENDING)], name="participants_retention")


class ParticipantLists:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.events = runtime.db[EVENTS]

    async def ended_before(self, cutoff: datetime, *, limit: int) -> list[str]:
        """Ids of events that ended before ``cutoff`` and still have their list."""
        cursor = (
            self.events.find({REMOVED_AT: None, "ends_at": {"$lt": cutoff}}, {"_id": 1})
            .sort("ends_at", 1)
            .hint(INDEX.document["name"])
            .limit(limit)
        )
        return [str(d["_id"]) async for d in cursor]

    async def remove(
        self, event_id: str, due: Callable[[MarketingEvent], bool], now: datetime
    ) -> int | None:
        """Delete the event's participants if ``due`` says so, and mark the event, in one
        transaction; the number removed, or ``None`` if it was not due or was done already."""
        participants = self.runtime.db[PARTICIPANTS]
        responses = Responses(self.runtime)

        async def work(session: AsyncClientSession) -> int | None:
            doc = await self.events.find_one({"_id": event_id}, session=session)
            if doc is None or doc.get(REMOVED_AT) is not None or not due(event_of(doc)):
                return None
            removed = await participants.delete_many({"event_id": event_id}, session=session)
            # The answers' free texts and whose they were go with the list; the counts stay.
            await responses.erase_texts({"event_id": event_id}, session=session)
            await responses.collection.update_many(
                {"event_id": event_id, "person_id": {"$exists": True}},
                {"$unset": {"person_id": ""}},
                session=session,
            )
            # Not a change of the event (no version, no fact): only the job reads this mark.
            await self.events.update_one(
                {"_id": event_id, REMOVED_AT: None},
                {"$set": {REMOVED_AT: now, "participants_removed": removed.deleted_count}},
                session=session,
            )
            return removed.deleted_count

        return await self.runtime.events.transaction(work)
