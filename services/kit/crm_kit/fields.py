"""Bounded types for what callers send: every request field has a size that fits its domain.

A request model uses these instead of a bare ``str``, ``int``, ``list`` or ``date``, so no
caller can store a megabyte in a venue, an integer the store cannot hold (MongoDB keeps
64-bit integers: a larger one failed at write time, a 500), a year-1 date that overflows the
schedule's arithmetic, a time-zone name the zone database cannot open, or a ``javascript:``
link. Each refusal is a 422 naming the field. ``tests/security/test_request_bounds.py`` walks
every service's OpenAPI document and fails on a request string, array or integer without a
maximum.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Annotated, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, Field

# --- text ------------------------------------------------------------------------------------

Code = Annotated[str, Field(min_length=1, max_length=64, examples=["CONS-1"])]
"""A short machine code: a catalogue item code, a field-of-activity code, a step key."""

Id = Annotated[str, Field(min_length=1, max_length=64)]
"""An identifier this system issued (or a caller's own key for a new thing)."""

Name = Annotated[str, Field(min_length=1, max_length=300)]
"""A name or a title: of a client, a person, an event, a programme, a proposal."""

ShortText = Annotated[str, Field(max_length=300)]
"""One line of free text: a venue, a position, a city, a competitor."""

Label = Annotated[str, Field(min_length=1, max_length=100)]
"""A word or two chosen from a small vocabulary: a kind, a role, a tag, a unit, a category."""

LongText = Annotated[str, Field(max_length=5000)]
"""A paragraph: a description, a summary, an outcome, a reason, a topic."""

Email = Annotated[str, Field(max_length=320, examples=["anna@example.com"])]
"""An e-mail address (RFC 5321's limit); its syntax is checked where it is normalised."""

Phone = Annotated[str, Field(max_length=40, examples=["+7 495 123-45-67"])]
"""A phone, mobile or fax number as typed; normalised to E.164 where it is stored."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", min_length=3, max_length=3)]
"""An ISO 4217 currency code."""

MAX_URL_LENGTH: Final = 2000
_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)


def _http_url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("must be an http:// or https:// address")
    return value


HttpUrl = Annotated[
    str,
    Field(max_length=MAX_URL_LENGTH, examples=["https://meet.example.com/r/42"]),
    AfterValidator(_http_url),
]
"""A web address a page may link to: only ``http`` and ``https`` (never ``javascript:`` or
``data:``), kept as typed."""

# --- numbers ---------------------------------------------------------------------------------

MAX_MINOR_UNITS: Final = 10**15
"""The largest amount a request may carry, in minor units: 10 trillion of a two-decimal
currency, far above any price or budget, and far below MongoDB's 64-bit limit (9.2e18), so
sums of many such amounts still fit."""

MinorUnits = Annotated[
    int, Field(ge=0, le=MAX_MINOR_UNITS, description="Minor units (cents, kopecks); never a float")
]

Count = Annotated[int, Field(ge=0, le=1_000_000)]
"""A number of things: a capacity, a quantity, a size."""

Days = Annotated[int, Field(ge=0, le=3650)]
"""A span in days, up to ten years."""

Version = Annotated[int, Field(ge=0, le=2**31 - 1)]
"""A version number a caller names."""

# --- time ------------------------------------------------------------------------------------

EARLIEST: Final = date(1900, 1, 1)
LATEST: Final = date(2200, 12, 31)
"""Dates and times a request may carry: the CRM's domain, not the calendar's. Year 1 or 9999
broke the arithmetic that derives deadlines and local days from them."""

DomainDate = Annotated[date, Field(ge=EARLIEST, le=LATEST, examples=["2027-03-01"])]

_EARLIEST_AT = datetime(EARLIEST.year, 1, 1, tzinfo=UTC)
_LATEST_AT = datetime(LATEST.year + 1, 1, 1, tzinfo=UTC)


def _in_domain(value: datetime) -> datetime:
    at = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if not _EARLIEST_AT <= at < _LATEST_AT:
        raise ValueError(f"must be between {EARLIEST.year} and {LATEST.year}")
    return value


DomainDateTime = Annotated[AwareDatetime, AfterValidator(_in_domain)]
"""A moment with its offset, within the domain's years."""

QueryDateTime = Annotated[datetime, AfterValidator(_in_domain)]
"""A moment in a query filter (an offset-less one is read as UTC), within the domain's years."""

MAX_TIMEZONE_LENGTH: Final = 64
_ZONE_NAME = re.compile(r"^[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*$")


@lru_cache(maxsize=1024)
def _zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


def _time_zone(value: str) -> str:
    if not _ZONE_NAME.match(value) or not _zone_exists(value):
        raise ValueError("must be an IANA time zone name, e.g. Europe/Moscow")
    return value


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TIMEZONE_LENGTH, examples=["Europe/Moscow"]),
    AfterValidator(_time_zone),
]
"""An IANA time-zone name the zone database knows."""

# Lists carry their own ``max_length`` where they are declared: how many of a thing fits
# depends on the thing (50 tags, 500 lines, 1,000 participants at once).
