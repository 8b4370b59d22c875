"""Shapes shared by several parts of the API."""

from __future__ import annotations

from crm_kit.fields import Currency, HttpUrl, LongText, MinorUnits, ShortText
from pydantic import BaseModel, ConfigDict

__all__ = ["Currency", "MoneyBody", "MoneyOut", "PlaceBody", "PlaceOut", "Strict"]


class Strict(BaseModel):
    """A request body: unknown fields are refused, naming them."""

    model_config = ConfigDict(extra="forbid")


class MoneyBody(Strict):
    amount_minor: MinorUnits
    currency: Currency


class MoneyOut(BaseModel):
    amount_minor: int
    currency: str


class PlaceBody(Strict):
    venue: ShortText | None = None
    address: LongText | None = None
    online_url: HttpUrl | None = None
    """Only an http(s) address: the invitation page links to it."""


class PlaceOut(BaseModel):
    venue: str | None
    address: str | None
    online_url: str | None
