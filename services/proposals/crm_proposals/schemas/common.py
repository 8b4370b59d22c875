"""Shapes every part of the API shares."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from crm_kit.fields import MAX_MINOR_UNITS, Currency
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Amount = Annotated[
    int,
    Field(
        ge=-MAX_MINOR_UNITS,
        le=MAX_MINOR_UNITS,
        description="Integer minor units (cents, kopecks).",
    ),
]
"""An amount a caller sends; its sign is the domain's rule (a negative price is refused there,
naming the line), its size the store's."""

Quantity = Annotated[
    int, Field(ge=-1_000_000, le=1_000_000, description="Whole units, at least 1.")
]


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class MoneyBody(In):
    amount_minor: Amount
    currency: Currency


class MoneyOut(BaseModel):
    amount_minor: int = Field(description="Integer minor units (cents, kopecks).")
    currency: str
