"""Retention by age: a TTL index per kind of data, whose expiry follows a setting.

A service names what it keeps for a limited time as :class:`TtlRule`\\ s (collection, date
field, days from a setting; ``ServiceSpec.retention``); at every start
:func:`ensure_ttl_indexes` makes the store agree with them. MongoDB's TTL monitor then deletes
each document once its date is older than the expiry (it runs once a minute). A document
without the field, or whose field is not a date, is never removed: a notification still
waiting for its delivery has no ``delivered_at`` yet.

- a new rule creates its index;
- a changed setting changes the expiry of the existing index in place (``collMod``: no rebuild);
- ``0`` or no value means "kept for ever": the rule's index is dropped, nothing expires;
- a rule that now names another field or filter gets its index made again.

Rules that depend on state rather than age (a prospect never converted) are a service's own
scheduled job; ``docs/retention.md`` lists every rule of every service.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)

Document = dict[str, Any]
DAY_S = 86_400


@dataclass(frozen=True)
class TtlRule:
    """Documents of ``collection`` are removed ``days`` after their ``field`` (a UTC date)."""

    collection: str
    field: str
    days: float | None
    """From the service's settings; ``None`` or ``0``: kept for ever (no index)."""
    name: str
    """The index's name: how a later start finds it to change or drop it."""
    partial: Mapping[str, Any] | None = None
    """Only documents matching this filter expire (``partialFilterExpression``)."""

    @property
    def seconds(self) -> int | None:
        if not self.days:
            return None
        return max(int(self.days * DAY_S), 1)


async def ensure_ttl_indexes(db: AsyncDatabase[Document], rules: Sequence[TtlRule]) -> None:
    for rule in rules:
        await ensure_ttl_index(db, rule)


async def ensure_ttl_index(db: AsyncDatabase[Document], rule: TtlRule) -> None:
    collection = db[rule.collection]
    existing = {i["name"]: i async for i in await collection.list_indexes()}
    current = existing.get(rule.name)
    seconds = rule.seconds
    if current is not None and (seconds is None or not _same_shape(current, rule)):
        await collection.drop_index(rule.name)
        log.info("retention: dropped %s.%s", rule.collection, rule.name)
        current = None
    if seconds is None:
        return
    if current is None:
        options: dict[str, Any] = {"name": rule.name, "expireAfterSeconds": seconds}
        if rule.partial is not None:
            options["partialFilterExpression"] = dict(rule.partial)
        await collection.create_index(rule.field, **options)
        log.info("retention: %s expire %d s after %s", rule.collection, seconds, rule.field)
    elif current.get("expireAfterSeconds") != seconds:
        # A changed setting: collMod changes the expiry in place (no rebuild).
        await db.command(
            "collMod", rule.collection, index={"name": rule.name, "expireAfterSeconds": seconds}
        )
        log.info("retention: %s now expire %d s after %s", rule.collection, seconds, rule.field)


def _same_shape(index: Mapping[str, Any], rule: TtlRule) -> bool:
    partial = index.get("partialFilterExpression")
    return dict(index["key"]) == {rule.field: 1} and (
        (dict(partial) if partial is not None else None)
        == (dict(rule.partial) if rule.partial is not None else None)
    )
