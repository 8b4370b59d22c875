"""Guarded updates of many documents as few bulk statements as they allow.

A batch writes many documents each guarded by what it was read as (a version, a status, an
attempt count): ``UpdateOne({"_id": id, **guard}, update)`` each. When many share the same
guard and the same update (a batch of participants invited at one moment, of notifications
claimed under one lease), one ``UpdateMany({"_id": {"$in": ids}, **guard}, update)`` does the
same: MongoDB applies a multi-document update to each document atomically and only where the
whole filter still matches when it writes it, so each document is written exactly when its
single statement would have been. The store plans and runs one statement where it ran one per
document, which was most of such a write's cost (docs/performance.md, "Guarded updates grouped").

A statement that updates many documents is not a retryable write: a connection lost in the
middle raises instead of being retried once by the driver, and what was written is what the
caller's guards let it find out (each caller reads back what landed when the count is short).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import bson
from pymongo import UpdateMany, UpdateOne

Update = tuple[Any, Mapping[str, Any], Mapping[str, Any]]
"""(the document's ``_id``, the rest of its guard, the update)."""


def guarded_updates(updates: Iterable[Update]) -> list[UpdateOne | UpdateMany]:
    """The bulk statements of ``updates``: an ``UpdateMany`` over the ids of each set that
    shares a guard and an update, an ``UpdateOne`` for one alone. For an unordered
    ``bulk_write``; its ``modified_count`` still counts documents."""
    groups: dict[bytes, tuple[Mapping[str, Any], Mapping[str, Any], list[Any]]] = {}
    for doc_id, guard, update in updates:
        # The guard and update as the store will read them: equal bytes, equal statements.
        key = bson.encode({"g": guard, "u": update})
        group = groups.get(key)
        if group is None:
            groups[key] = (guard, update, [doc_id])
        else:
            group[2].append(doc_id)
    statements: list[UpdateOne | UpdateMany] = []
    for guard, update, ids in groups.values():
        if len(ids) == 1:
            statements.append(UpdateOne({"_id": ids[0], **guard}, update))
        else:
            statements.append(UpdateMany({"_id": {"$in": ids}, **guard}, update))
    return statements
