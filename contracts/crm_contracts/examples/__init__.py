"""One valid, realistic instance of every contract event.

For tests (round trips, consumers' unit tests) and documentation. A test fails when a
registered event has no example here.
"""

from __future__ import annotations

from crm_contracts.base import ContractEvent
from crm_contracts.examples.backoffice import backoffice_examples
from crm_contracts.examples.campaigns import campaigns_examples
from crm_contracts.examples.contacts import contacts_examples
from crm_contracts.examples.proposals import notify_examples, proposals_examples


def example_events() -> list[ContractEvent]:
    """One instance of every registered event type."""
    return (
        contacts_examples()
        + campaigns_examples()
        + proposals_examples()
        + notify_examples()
        + backoffice_examples()
    )


__all__ = ["example_events"]
