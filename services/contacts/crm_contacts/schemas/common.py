"""Shapes shared by the contacts API's requests and responses."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from crm_kit.fields import Email, Id, LongText, Phone, ShortText
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

__all__ = ["ChannelsIn", "ChannelsOut", "LongText", "Page", "Ref", "Strict", "Text"]

Text = ShortText
Ref = Id


class Strict(BaseModel):
    """A request body: an unknown field is an error naming it."""

    model_config = ConfigDict(extra="forbid")


class ChannelsIn(Strict):
    """Addresses per channel as typed; each is validated and normalised (phones to E.164)."""

    email: Email | None = None
    phone: Phone | None = None
    mobile: Phone | None = None
    fax: Phone | None = None
    pager: Annotated[str, Field(max_length=64)] | None = None


class ChannelsOut(BaseModel):
    email: str | None
    phone: str | None
    mobile: str | None
    fax: str | None
    pager: str | None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; `null` on the last page."
    )
