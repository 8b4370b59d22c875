"""Where a won deal stands in the back office, from the facts it published (crm.backoffice.v1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

BackOfficeStage = Literal["contract_signed", "ordered", "paid", "refused"]
"""The stage the latest fact puts the deal at."""

STAGE_AFTER: Mapping[str, BackOfficeStage] = dict(
    zip(
        ("ContractSigned", "OrderPlaced", "PaymentReceived", "DealRefused"),
        get_args(BackOfficeStage),
        strict=True,
    )
)
"""The stage each kind of back-office fact leads to."""


@dataclass(frozen=True, slots=True)
class BackOfficeStanding:
    """The deal's back-office facts in the order they happened, its stage by the latest one
    (``None`` before the back office has said anything) and its payments summed per currency."""

    facts: Sequence[Mapping[str, Any]]

    @property
    def stage(self) -> BackOfficeStage | None:
        return STAGE_AFTER[self.facts[-1]["event_type"]] if self.facts else None

    @property
    def paid(self) -> dict[str, int]:
        """Minor units paid, per currency, in currency order."""
        paid: dict[str, int] = {}
        for fact in self.facts:
            if fact["event_type"] == "PaymentReceived" and fact["amount"]:
                currency = fact["amount"]["currency"]
                paid[currency] = paid.get(currency, 0) + fact["amount"]["amount_minor"]
        return dict(sorted(paid.items()))
