"""Queries on contact records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crm_contracts.base import ContractEvent
from crm_kit.outbox import Document
from crm_kit.problems import Conflict
from crm_kit.runtime import Runtime

from crm_contacts import domain
from crm_contacts.repository.documents import record_doc, record_of
from crm_contacts.repository.pagination import Page, after, page_of

CONTACTS = "contacts"


@dataclass(frozen=True)
class RecordFilter:
    client_id: str | None = None
    employee_id: str | None = None
    person_id: str | None = None
    event_id: str | None = None
    proposal_id: str | None = None

    def query(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


class RecordRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.records = runtime.outbox(CONTACTS, entity="contact record")
        self.collection = self.records.collection
        self.runtime = runtime

    async def add(self, record: domain.ContactRecord, event: ContractEvent) -> domain.ContactRecord:
        return record_of(await self.records.insert(record_doc(record), [event]))

    async def add_once(
        self, record: domain.ContactRecord, event: ContractEvent, *, causation_id: str
    ) -> bool:
        """Insert a record with a deterministic id; ``False`` if it was stored before."""
        try:
            await self.records.insert(record_doc(record), [event], causation_id=causation_id)
        except Conflict:
            return False
        return True

    async def get(self, contact_id: str) -> domain.ContactRecord | None:
        doc: Document | None = await self.collection.find_one({"_id": contact_id})
        return record_of(doc) if doc else None

    async def list(
        self, where: RecordFilter, *, cursor: str | None, limit: int
    ) -> Page[domain.ContactRecord]:
        clauses = [where.query()]
        resume = after("occurred_at", cursor)
        if resume:
            clauses.append(resume)
        found = (
            self.collection.find({"$and": clauses})
            .sort([("occurred_at", 1), ("_id", 1)])
            .limit(limit + 1)
        )
        kept, next_cursor = page_of([d async for d in found], "occurred_at", limit)
        return Page([record_of(d) for d in kept], next_cursor)

    async def of_person(self, person_id: str) -> tuple[domain.ContactRecord, ...]:
        cursor = self.collection.find({"person_id": person_id}).sort([("occurred_at", 1)])
        return tuple([record_of(d) async for d in cursor])

    async def questionnaires_answered(
        self, *, person_id: str | None = None, client_id: str | None = None
    ) -> tuple[str, ...]:
        """The questionnaire responses recorded for the person (or the client's people) while
        they were known: their respondents' details are sealed under those responses' keys."""
        where = {"person_id": person_id} if person_id is not None else {"client_id": client_id}
        cursor = self.collection.find(
            {**where, "questionnaire_response_id": {"$type": "string"}},
            {"questionnaire_response_id": 1},
        )
        return tuple(sorted({d["questionnaire_response_id"] async for d in cursor}))

    async def ids_of_client(self, client_id: str) -> tuple[str, ...]:
        cursor = self.collection.find({"client_id": client_id}, {"_id": 1}).sort("_id", 1)
        return tuple([d["_id"] async for d in cursor])

    async def move(self, contact_ids: tuple[str, ...], *, to_client: str, from_client: str) -> None:
        """Re-point records to the survivor of a merge; repeating it changes nothing more."""
        if contact_ids:
            await self.collection.update_many(
                {"_id": {"$in": list(contact_ids)}},
                {"$set": {"client_id": to_client, "merged_from": from_client}},
            )
