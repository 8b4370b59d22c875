"""Kafka topic names: one topic per producing service, keyed by aggregate id."""

from typing import Final

CONTACTS: Final = "crm.contacts.v1"
CAMPAIGNS: Final = "crm.campaigns.v1"
PROPOSALS: Final = "crm.proposals.v1"
NOTIFY: Final = "crm.notify.v1"

SERVICE_TOPICS: Final[tuple[str, ...]] = (CONTACTS, CAMPAIGNS, PROPOSALS, NOTIFY)
PARTITIONS: Final = 6


def dead_letter_topic(topic: str, group: str) -> str:
    """Where a consumer group parks what it could not process from ``topic``."""
    return f"{topic}.dlq.{group}"
