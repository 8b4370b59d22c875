"""Examples of the back office's facts."""

from __future__ import annotations

from crm_contracts import backoffice as bo
from crm_contracts.base import ContractEvent
from crm_contracts.examples._shared import AT, CLIENT, PROPOSAL, rub


def backoffice_examples() -> list[ContractEvent]:
    return [
        bo.ContractSigned(
            proposal_id=PROPOSAL,
            client_id=CLIENT,
            system="erp",
            document_number="C-2026-0042",
            signed_at=AT,
            amount=rub(1_250_000_00),
        ),
        bo.OrderPlaced(
            proposal_id=PROPOSAL,
            client_id=CLIENT,
            system="erp",
            document_number="O-2026-0107",
            placed_at=AT,
        ),
        bo.PaymentReceived(
            proposal_id=PROPOSAL,
            client_id=CLIENT,
            system="erp",
            document_number="P-2026-0311",
            amount=rub(625_000_00),
            paid_at=AT,
        ),
        bo.DealRefused(
            proposal_id=PROPOSAL,
            client_id=CLIENT,
            system="erp",
            document_number="C-2026-0042",
            reason="The client's credit limit was not approved",
            refused_at=AT,
        ),
    ]
