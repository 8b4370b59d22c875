"""Shapes every part of the API shares."""

from __future__ import annotations

from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
Currency = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])


class In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page."
    )


class MoneyBody(In):
    amount_minor: int = Field(description="Integer minor units (cents, kopecks).")
    currency: str = Currency
