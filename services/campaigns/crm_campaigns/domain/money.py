"""Money as integer minor units with a currency code; never a float."""

from __future__ import annotations

import re
from dataclasses import dataclass

from crm_campaigns.domain.errors import InvalidAmount

_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not _CURRENCY.match(self.currency):
            raise InvalidAmount(f"{self.currency!r} is not an ISO 4217 currency code")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor + other.amount_minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount_minor - other.amount_minor, self.currency)

    def times(self, quantity: int) -> Money:
        return Money(self.amount_minor * quantity, self.currency)

    def divided_by(self, count: int) -> Money | None:
        """Rounded half up to the minor unit; ``None`` when there is nothing to divide by."""
        if count <= 0:
            return None
        return Money((2 * self.amount_minor + count) // (2 * count), self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise InvalidAmount(f"cannot combine {other.currency} with {self.currency}")
