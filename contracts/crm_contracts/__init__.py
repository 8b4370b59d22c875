"""crm_contracts: the events the CRM services publish, their envelope and their topics.

Importing the package loads every service module, so the registry is complete.
"""

from crm_contracts import backoffice, campaigns, contacts, notify, proposals
from crm_contracts.base import ContractEvent, ContractModel
from crm_contracts.envelope import Envelope, EventTypeMismatch
from crm_contracts.money import Money
from crm_contracts.registry import (
    EVENT_TYPES,
    DuplicateEventType,
    UnknownEventType,
    event_class,
    events_of_topic,
)

__all__ = [
    "EVENT_TYPES",
    "ContractEvent",
    "ContractModel",
    "DuplicateEventType",
    "Envelope",
    "EventTypeMismatch",
    "Money",
    "UnknownEventType",
    "backoffice",
    "campaigns",
    "contacts",
    "event_class",
    "events_of_topic",
    "notify",
    "proposals",
]
