"""Every query of the contacts service, and only here."""

from __future__ import annotations

from crm_contacts.repository.clients import CLIENTS, ClientRepository
from crm_contacts.repository.dismissals import DISMISSALS, Dismissal, DismissalRepository
from crm_contacts.repository.employees import EMPLOYEES, EmployeeRepository
from crm_contacts.repository.indexes import create_indexes
from crm_contacts.repository.pagination import Page
from crm_contacts.repository.records import CONTACTS, RecordFilter, RecordRepository
from crm_contacts.repository.search import ClientFilter
from crm_contacts.repository.timeline import TIMELINE, TimelineEntry, TimelineRepository

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
