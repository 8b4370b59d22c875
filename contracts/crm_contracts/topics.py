"""Kafka topic names: one topic per producing service, keyed by aggregate id."""

from typing import Final

CONTACTS: Final = "crm.contacts.v1"
CAMPAIGNS: Final = "crm.campaigns.v1"
PROPOSALS: Final = "crm.proposals.v1"
NOTIFY: Final = "crm.notify.v1"

BACKOFFICE: Final = "crm.backoffice.v1"
"""The one inbound topic: what back-office systems (contracts, orders, payments) say about a
won proposal. They publish it (as Kafka user ``crm-backoffice``); contacts and proposals read."""

SERVICE_TOPICS: Final[tuple[str, ...]] = (CONTACTS, CAMPAIGNS, PROPOSALS, NOTIFY)
"""The topics the CRM's services publish."""
INBOUND_TOPICS: Final[tuple[str, ...]] = (BACKOFFICE,)
"""The topics systems outside the CRM publish for it."""
TOPICS: Final[tuple[str, ...]] = SERVICE_TOPICS + INBOUND_TOPICS
"""Every topic of the CRM (the stack creates them all)."""
PARTITIONS: Final = 6


def dead_letter_topic(topic: str, group: str) -> str:
    """Where a consumer group parks what it could not process from ``topic``."""
    return f"{topic}.dlq.{group}"
