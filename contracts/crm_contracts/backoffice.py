"""Facts back-office systems publish on ``crm.backoffice.v1`` about a won proposal.

The inbound contract: logistics and finance systems (the ERP that opens contracts, takes
orders and books payments) answer the hand-over they got in ``ProposalWon``. Every fact names
the proposal (the record's key, so one deal's facts stay in order) and its client, and the
system and document it comes from. The envelope's ``producer`` is the system's name.

A back-office system publishes with the Kafka user ``crm-backoffice``, which may write this
topic only. Consumed by proposals (the deal's back-office stage on the proposal) and contacts
(the client's timeline; a signed contract or a payment makes a potential or former client
active, as the win already did).
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent
from crm_contracts.money import Money
from crm_contracts.topics import BACKOFFICE
from crm_contracts.values import Id, UtcDatetime


class BackofficeEvent(ContractEvent):
    """Base of the back office's facts: about one won proposal, from one system."""

    topic: ClassVar[str] = BACKOFFICE
    proposal_id: Id
    """The won proposal (``ProposalWon.proposal_id``); the record's key."""
    client_id: Id
    """The proposal's client (``ProposalWon.client_id``)."""
    system: str = Field(min_length=1, max_length=100)
    """The back-office system that says it (e.g. ``erp``)."""
    document_number: str = Field(min_length=1, max_length=100)
    """The system's document: the contract's, the order's or the payment's number."""

    def aggregate_key(self) -> str:
        return self.proposal_id

    @property
    def happened_at(self) -> datetime:
        """When the fact happened in the back office (signed, placed, paid, refused)."""
        raise NotImplementedError


class ContractSigned(BackofficeEvent):
    """The client signed the contract that the won proposal led to."""

    event_type: ClassVar[str] = "ContractSigned"
    signed_at: UtcDatetime
    amount: Money | None = None
    """The contract's amount, when the system knows it."""

    @property
    def happened_at(self) -> datetime:
        return self.signed_at


class OrderPlaced(BackofficeEvent):
    """An order was placed under the contract (goods reserved, services scheduled)."""

    event_type: ClassVar[str] = "OrderPlaced"
    placed_at: UtcDatetime

    @property
    def happened_at(self) -> datetime:
        return self.placed_at


class PaymentReceived(BackofficeEvent):
    """A payment for the deal was booked; several may arrive (instalments)."""

    event_type: ClassVar[str] = "PaymentReceived"
    amount: Money
    paid_at: UtcDatetime

    @property
    def happened_at(self) -> datetime:
        return self.paid_at


class DealRefused(BackofficeEvent):
    """The deal will not go ahead after the win: the client refused the contract, or the
    back office did (credit check, stock)."""

    event_type: ClassVar[str] = "DealRefused"
    reason: str = Field(min_length=1, max_length=500)
    refused_at: UtcDatetime

    @property
    def happened_at(self) -> datetime:
        return self.refused_at
