"""Shapes shared by several parts of the API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])]


class Strict(BaseModel):
    """A request body: unknown fields are refused, naming them."""

    model_config = ConfigDict(extra="forbid")


class MoneyBody(Strict):
    amount_minor: int = Field(ge=0, description="Minor units (cents, kopecks); never a float")
    currency: Currency


class MoneyOut(BaseModel):
    amount_minor: int
    currency: str


class PlaceBody(Strict):
    venue: str | None = None
    address: str | None = None
    online_url: str | None = None
