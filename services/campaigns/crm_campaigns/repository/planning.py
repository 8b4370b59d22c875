"""Programmes, events (with their tasks and estimate) and task templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from crm_contracts.base import ContractEvent
from crm_kit.problems import NotFound, VersionConflict
from crm_kit.query_plans import READS_ALL
from crm_kit.runtime import Runtime
from pymongo.errors import DuplicateKeyError

from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.programmes import Programme
from crm_campaigns.domain.tasks import (
    DEFAULT_KINDS,
    OPEN_STATUSES,
    TaskTemplate,
    default_template,
)
from crm_campaigns.repository import (
    CALENDAR_FEEDS,
    EVENTS,
    PROGRAMMES,
    TASK_TEMPLATES,
)
from crm_campaigns.repository.documents import (
    event_doc,
    event_of,
    programme_doc,
    programme_of,
    template_doc,
    template_of,
)
from crm_campaigns.repository.pagination import after, next_cursor

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


class ProgrammeRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.outbox(PROGRAMMES, "programme")

    async def add(self, programme: Programme, facts: Sequence[ContractEvent]) -> None:
        await self.store.insert({"_id": programme.programme_id, **programme_doc(programme)}, facts)

    async def get(self, programme_id: str) -> Programme:
        doc = await self.store.collection.find_one({"_id": programme_id})
        if doc is None:
            raise NotFound(f"programme {programme_id} not found")
        return programme_of(doc)

    async def save(
        self, programme: Programme, facts: Sequence[ContractEvent], *, expected_version: int
    ) -> None:
        await self.store.update(
            programme.programme_id,
            {"$set": programme_doc(programme)},
            facts,
            expected_version=expected_version,
        )

    async def list(self, *, cursor: str | None, limit: int) -> Page[Programme]:
        docs = (
            await self.store.collection.find(after("_id", cursor))
            .sort("_id", 1)
            .limit(limit)
            .to_list()
        )
        return Page([programme_of(d) for d in docs], next_cursor(docs, "_id", limit))


@dataclass(frozen=True)
class ScheduleFilter:
    starts_from: datetime | None = None
    ends_before: datetime | None = None
    kind: str | None = None
    programme_id: str | None = None
    responsible_employee_id: str | None = None
    status: str | None = None

    def query(self) -> dict[str, Any]:
        q: dict[str, Any] = {}
        # An event is in the period when it overlaps it.
        if self.starts_from is not None:
            q["ends_at"] = {"$gt": self.starts_from}
        if self.ends_before is not None:
            q["starts_at"] = {"$lt": self.ends_before}
        if self.kind is not None:
            q["kind"] = self.kind
        if self.programme_id is not None:
            q["programme_id"] = self.programme_id
        if self.responsible_employee_id is not None:
            q["responsible_employee_ids"] = self.responsible_employee_id
        if self.status is not None:
            q["status"] = self.status
        return q


class EventRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.outbox(EVENTS, "event")

    async def add(self, event: MarketingEvent, facts: Sequence[ContractEvent]) -> int:
        doc = await self.store.insert({"_id": event.event_id, **event_doc(event)}, facts)
        return int(doc["version"])

    async def get(self, event_id: str) -> MarketingEvent:
        doc = await self.store.collection.find_one({"_id": event_id})
        if doc is None:
            raise NotFound(f"event {event_id} not found")
        return event_of(doc)

    async def save(
        self, event: MarketingEvent, facts: Sequence[ContractEvent], *, expected_version: int
    ) -> int:
        after_doc = await self.store.update(
            event.event_id, {"$set": event_doc(event)}, facts, expected_version=expected_version
        )
        return int(after_doc["version"])

    async def with_open_tasks_of(self, assignee_id: str, limit: int) -> list[MarketingEvent]:
        """Events with an open task ``assignee_id`` holds: at most ``limit``, soonest first."""
        open_statuses = [s.value for s in OPEN_STATUSES]
        query = {
            "tasks": {"$elemMatch": {"assignee_id": assignee_id, "status": {"$in": open_statuses}}}
        }
        docs = (
            await self.store.collection.find(query)
            .sort([("starts_at", 1), ("_id", 1)])
            .limit(limit)
            .to_list()
        )
        return [event_of(d) for d in docs]

    async def list(
        self, where: ScheduleFilter, *, cursor: str | None, limit: int
    ) -> Page[MarketingEvent]:
        query = where.query()
        page = after("starts_at", cursor)
        if page:
            query = {"$and": [query, page]} if query else page
        docs = (
            await self.store.collection.find(query)
            .sort([("starts_at", 1), ("_id", 1)])
            .limit(limit)
            .to_list()
        )
        return Page([event_of(d) for d in docs], next_cursor(docs, "starts_at", limit))


class TemplateRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[TASK_TEMPLATES]
        self.configured = tuple(getattr(runtime.settings, "event_kinds", DEFAULT_KINDS))

    async def kinds(self) -> frozenset[str]:
        stored = await self.collection.distinct("_id", comment=READS_ALL)  # the edited kinds
        return frozenset(self.configured) | frozenset(str(k) for k in stored)

    async def get(self, kind: str) -> TaskTemplate:
        doc = await self.collection.find_one({"_id": kind})
        return template_of(doc) if doc is not None else default_template(kind)

    async def all(self) -> list[TaskTemplate]:
        return [await self.get(kind) for kind in sorted(await self.kinds())]

    async def save(self, template: TaskTemplate, *, expected_version: int) -> int:
        """Store an edited template; version 0 is the shipped default nobody edited yet."""
        if expected_version == 0:
            try:
                await self.collection.insert_one(
                    {"_id": template.kind, **template_doc(template), "version": 1}
                )
            except DuplicateKeyError as exc:
                raise VersionConflict(f"the {template.kind} template was edited meanwhile") from exc
            return 1
        result = await self.collection.update_one(
            {"_id": template.kind, "version": expected_version},
            {"$set": template_doc(template), "$inc": {"version": 1}},
        )
        if result.modified_count != 1:
            raise VersionConflict(
                f"the {template.kind} template is not at version {expected_version}"
            )
        return expected_version + 1


class CalendarFeeds:
    """Subscribable plan-schedule feeds: their filters, expiry and revocation."""

    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[CALENDAR_FEEDS]

    async def add(self, doc: dict[str, Any]) -> None:
        await self.collection.insert_one(doc)

    async def get(self, feed_id: str) -> dict[str, Any]:
        doc = await self.collection.find_one({"_id": feed_id})
        if doc is None:
            raise NotFound(f"calendar feed {feed_id} not found")
        return doc

    async def revoke(self, feed_id: str, at: datetime) -> dict[str, Any]:
        await self.collection.update_one(
            {"_id": feed_id, "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return await self.get(feed_id)

    async def list(self, *, cursor: str | None, limit: int) -> Page[dict[str, Any]]:
        docs = (
            await self.collection.find(after("_id", cursor)).sort("_id", 1).limit(limit).to_list()
        )
        return Page(docs, next_cursor(docs, "_id", limit))
