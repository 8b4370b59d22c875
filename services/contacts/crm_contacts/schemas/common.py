"""Shapes shared by the contacts API's requests and responses."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

Text = Annotated[str, Field(max_length=300)]
LongText = Annotated[str, Field(max_length=5000)]
Ref = Annotated[str, Field(min_length=1, max_length=64)]


class Strict(BaseModel):
    """A request body: an unknown field is an error naming it."""

    model_config = ConfigDict(extra="forbid")


class ChannelsIn(Strict):
    """Addresses per channel as typed; each is validated and normalised (phones to E.164)."""

    email: Annotated[str, Field(max_length=320)] | None = None
    phone: Annotated[str, Field(max_length=40)] | None = None
    mobile: Annotated[str, Field(max_length=40)] | None = None
    fax: Annotated[str, Field(max_length=40)] | None = None
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
