"""Keyset pagination: a stable order on (a sort field, ``_id``) and an opaque cursor."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from crm_contacts.domain.errors import InvalidInputError


class InvalidCursor(InvalidInputError):
    pass


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(value: Any, doc_id: str) -> str:
    if isinstance(value, datetime):
        value = {"t": value.isoformat()}
    raw = json.dumps([value, doc_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value, doc_id = json.loads(raw)
        if isinstance(value, dict):
            # The one object a cursor holds is a time; nothing else (an operator) passes.
            if set(value) != {"t"} or not isinstance(value["t"], str):
                raise TypeError("the value part is a time or a scalar")
            value = datetime.fromisoformat(value["t"])
        elif value is not None and not isinstance(value, str | int | float):
            raise TypeError("the value part is a time or a scalar")
        if not isinstance(doc_id, str):
            raise TypeError("the id part must be a string")
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidCursor(
            "the cursor is not one this service issued", field="query.cursor"
        ) from exc
    return value, doc_id


def after(sort_field: str, cursor: str | None, *, descending: bool = False) -> dict[str, Any]:
    """The filter selecting what comes after ``cursor`` in (sort_field, _id) order, ascending
    or ``descending``: a range on ``sort_field`` (index bounds) less the ties up to the
    cursor's id."""
    if cursor is None:
        return {}
    value, doc_id = decode_cursor(cursor)
    beyond, upto = ("$lte", "$gte") if descending else ("$gte", "$lte")
    return {
        sort_field: {beyond: value},
        "$nor": [{sort_field: value, "_id": {upto: doc_id}}],
    }


def page_of(
    docs: list[dict[str, Any]], sort_field: str, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    """Cut a ``limit + 1`` fetch to ``limit`` and say where the next page starts."""
    if len(docs) <= limit:
        return docs, None
    kept = docs[:limit]
    last = kept[-1]
    return kept, encode_cursor(last[sort_field], last["_id"])
