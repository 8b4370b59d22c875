"""The queries of the prospects' retention job (``handlers.retention``).

Candidates are read through the partial index of potential clients by registration time. A
candidate is read again, judged and deleted in one transaction with its event, so two replicas
running the job at once delete a prospect once and publish one ``ClientExpired``: the second
transaction conflicts with the first, is retried, and finds nothing left to delete.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import ClientStatus
from crm_kit.outbox import VERSION, Document
from crm_kit.runtime import Runtime
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_contacts import domain
from crm_contacts.repository.clients import CLIENTS
from crm_contacts.repository.dismissals import DISMISSALS
from crm_contacts.repository.documents import client_of
from crm_contacts.repository.records import CONTACTS
from crm_contacts.repository.timeline import TIMELINE

PROSPECTS = IndexModel(
    [("registered_at", ASCENDING), ("_id", ASCENDING)],
    name="prospects_by_registration",
    partialFilterExpression={"status": ClientStatus.POTENTIAL.value},
)
INDEXES = {
    CLIENTS: [
        PROSPECTS,
        # The clients merged into one (only merged clients are in it).
        IndexModel(
            [("merged_into", ASCENDING)],
            name="merged_clients",
            partialFilterExpression={"merged_into": {"$type": "string"}},
        ),
    ],
    DISMISSALS: [IndexModel([("client_ids", ASCENDING)])],
}


@dataclass(frozen=True)
class Gone:
    """What goes with a prospect: read in the transaction that deletes it."""

    last_activity: datetime | None
    """The latest fact on its timeline or contact record, if any."""
    contact_ids: tuple[str, ...]
    merged_client_ids: tuple[str, ...]


Judge = Callable[[domain.Client, Gone], ContractEvent | None]
"""The domain's verdict on a prospect read in the transaction: its event, or ``None``."""


class ProspectRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.clients = runtime.db[CLIENTS]

    async def registered_before(
        self, cutoff: datetime, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[tuple[datetime, str]]:
        """(registration time, id) of live potential clients registered and last changed
        before ``cutoff``, in that order, after ``after``."""
        query: dict[str, Any] = {
            "status": ClientStatus.POTENTIAL.value,
            "registered_at": {"$lt": cutoff},
            "merged_into": None,
            "$or": [{"updated_at": None}, {"updated_at": {"$lt": cutoff}}],
        }
        if after is not None:
            at, client_id = after
            query["$and"] = [
                {
                    "$or": [
                        {"registered_at": {"$gt": at}},
                        {"registered_at": at, "_id": {"$gt": client_id}},
                    ]
                }
            ]
        cursor = (
            self.clients.find(query, {"registered_at": 1})
            .sort([("registered_at", 1), ("_id", 1)])
            .hint(PROSPECTS.document["name"])
            .limit(limit)
        )
        return [(d["registered_at"], str(d["_id"])) async for d in cursor]

    async def expire(self, client_id: str, judge: Judge) -> ContractEvent | None:
        """Delete the client, the clients merged into it, its contact records and duplicate
        dismissals, with the event ``judge`` gives, in one transaction; nothing when ``judge``
        gives none or the client is gone."""
        db = self.runtime.db
        events = self.runtime.events

        async def work(session: AsyncClientSession) -> ContractEvent | None:
            doc: Document | None = await self.clients.find_one({"_id": client_id}, session=session)
            if doc is None:
                return None
            gone = Gone(
                last_activity=await self._last_activity(client_id, session),
                contact_ids=await self._ids(CONTACTS, {"client_id": client_id}, session),
                merged_client_ids=await self._merged_into(client_id, session),
            )
            event = judge(client_of(doc), gone)
            if event is None:
                return None
            await self.clients.delete_one(
                {"_id": client_id, VERSION: doc[VERSION]}, session=session
            )
            ids = [client_id, *gone.merged_client_ids]
            await self.clients.delete_many({"_id": {"$in": ids[1:]}}, session=session)
            await db[CONTACTS].delete_many({"client_id": client_id}, session=session)
            await db[DISMISSALS].delete_many({"client_ids": {"$in": ids}}, session=session)
            await events.add(session, events.entries([event]))
            return event

        return await events.transaction(work)

    async def _last_activity(self, client_id: str, session: AsyncClientSession) -> datetime | None:
        db = self.runtime.db
        latest: list[datetime] = []
        for collection, field in ((TIMELINE, "at"), (CONTACTS, "occurred_at")):
            doc = await db[collection].find_one(
                {"client_id": client_id}, {field: 1}, sort=[(field, -1)], session=session
            )
            if doc is not None:
                latest.append(doc[field])
        return max(latest, default=None)

    async def _ids(
        self, collection: str, query: dict[str, Any], session: AsyncClientSession
    ) -> tuple[str, ...]:
        cursor = self.runtime.db[collection].find(query, {"_id": 1}, session=session).sort("_id")
        return tuple([str(d["_id"]) async for d in cursor])

    async def _merged_into(self, client_id: str, session: AsyncClientSession) -> tuple[str, ...]:
        """Every client merged into this one, directly or through another merged one."""
        found: list[str] = []
        frontier = [client_id]
        while frontier:
            # ``$type`` as in the partial index's filter, so that the index may serve this.
            merged = {"merged_into": {"$in": frontier, "$type": "string"}}
            frontier = list(await self._ids(CLIENTS, merged, session))
            found.extend(frontier)
        return tuple(found)
