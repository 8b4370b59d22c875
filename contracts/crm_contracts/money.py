"""Money on the wire: an integer amount of minor units and an ISO 4217 currency code."""

from __future__ import annotations

from crm_contracts.base import ContractModel
from crm_contracts.values import CurrencyCode


class Money(ContractModel):
    """An amount of money; ``Money(amount_minor=123450, currency="EUR")`` is EUR 1,234.50."""

    amount_minor: int
    """The amount in the currency's minor units (cents, kopecks); never a float."""
    currency: CurrencyCode

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(amount_minor=0, currency=currency)

    def __add__(self, other: Money) -> Money:
        if other.currency != self.currency:
            raise ValueError(f"cannot add {other.currency} to {self.currency}")
        return Money(amount_minor=self.amount_minor + other.amount_minor, currency=self.currency)
