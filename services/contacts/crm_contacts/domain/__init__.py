"""The contacts domain: clients, people, employees, contact records. Pure Python, no I/O."""

from crm_contacts.domain.channels import Channels, Consent
from crm_contacts.domain.clients import Client, register_client
from crm_contacts.domain.employees import Employee, register_employee
from crm_contacts.domain.errors import (
    ContactsError,
    InvalidInputError,
    StateConflict,
    UnknownReference,
)
from crm_contacts.domain.facts import Fact
from crm_contacts.domain.parts import Address, CuratorTerm, FieldOfActivity, Person, Source
from crm_contacts.domain.records import ContactRecord, record_contact

__all__ = [
    "Address",
    "Channels",
    "Client",
    "Consent",
    "ContactRecord",
    "ContactsError",
    "CuratorTerm",
    "Employee",
    "Fact",
    "FieldOfActivity",
    "InvalidInputError",
    "Person",
    "Source",
    "StateConflict",
    "UnknownReference",
    "record_contact",
    "register_client",
    "register_employee",
]
