"""Cursor pagination over a sort key and the ``_id``: stable under inserts, no skipping."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from crm_kit.problems import FieldError, InvalidInput


def encode_cursor(sort_value: Any, doc_id: str) -> str:
    value = sort_value.isoformat() if isinstance(sort_value, datetime) else sort_value
    raw = json.dumps([value, doc_id, isinstance(sort_value, datetime)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, doc_id, is_time = json.loads(base64.urlsafe_b64decode(padded))
        if is_time:
            value = datetime.fromisoformat(value)
        elif value is not None and not isinstance(value, str | int | float):
            # Only a scalar is a sort value; an object here would be a query operator.
            raise TypeError("the value part is a time or a scalar")
        if not isinstance(doc_id, str):
            raise TypeError("the id part is a string")
        return value, doc_id
    except Exception as exc:
        raise InvalidInput(
            [FieldError(field="query.cursor", message="not a cursor this API gave", type="cursor")]
        ) from exc


def after(field: str, cursor: str | None, *, descending: bool = False) -> dict[str, Any]:
    """The filter for the page after ``cursor`` when sorting by ``(field, _id)`` ascending, or
    ``descending`` (newest first)."""
    if cursor is None:
        return {}
    value, doc_id = decode_cursor(cursor)
    beyond = "$lt" if descending else "$gt"
    if field == "_id":
        return {"_id": {beyond: doc_id}}
    return {"$or": [{field: {beyond: value}}, {field: value, "_id": {beyond: doc_id}}]}


def next_cursor(docs: list[dict[str, Any]], field: str, limit: int) -> str | None:
    if len(docs) < limit or not docs:
        return None
    last = docs[-1]
    return encode_cursor(last[field] if field != "_id" else last["_id"], last["_id"])
