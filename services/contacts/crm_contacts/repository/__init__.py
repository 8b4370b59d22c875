"""Every query of the contacts service, and only here."""

from __future__ import annotations

from crm_kit.outbox import Document
from pymongo.asynchronous.database import AsyncDatabase

from crm_contacts.repository.clients import CLIENTS, ClientFilter, ClientRepository
from crm_contacts.repository.clients import create_indexes as _client_indexes
from crm_contacts.repository.dismissals import DISMISSALS, Dismissal, DismissalRepository
from crm_contacts.repository.employees import EMPLOYEES, EmployeeRepository
from crm_contacts.repository.pagination import Page
from crm_contacts.repository.records import CONTACTS, RecordFilter, RecordRepository
from crm_contacts.repository.timeline import TIMELINE, TimelineEntry, TimelineRepository


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await _client_indexes(db)
    await db[EMPLOYEES].create_index([("registered_at", 1), ("_id", 1)])
    await db[EMPLOYEES].create_index([("department", 1), ("active", 1)])
    for field in ("client_id", "employee_id", "event_id", "proposal_id"):
        await db[CONTACTS].create_index([(field, 1), ("occurred_at", 1), ("_id", 1)])
    await db[CONTACTS].create_index([("occurred_at", 1), ("_id", 1)])
    await db[TIMELINE].create_index([("client_id", 1), ("at", 1), ("_id", 1)])
    await db[DISMISSALS].create_index([("dismissed_at", 1), ("_id", 1)])


__all__ = [
    "CLIENTS",
    "CONTACTS",
    "DISMISSALS",
    "EMPLOYEES",
    "TIMELINE",
    "ClientFilter",
    "ClientRepository",
    "Dismissal",
    "DismissalRepository",
    "EmployeeRepository",
    "Page",
    "RecordFilter",
    "RecordRepository",
    "TimelineEntry",
    "TimelineRepository",
    "create_indexes",
]
