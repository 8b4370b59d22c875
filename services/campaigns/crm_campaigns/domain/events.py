"""The marketing event: its place on the plan-schedule, its lifecycle, tasks and estimate.

Tasks and estimate lines live inside the event: they are few per event, change with it (a
reschedule moves the open tasks, a cancel cancels them) and so are written atomically with it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_campaigns.domain.errors import (
    EventAlreadyCancelled,
    EventAlreadyCompleted,
    EventAtCapacity,
    EventNotStarted,
    IllegalTaskTransition,
    InvalidAmount,
    InvalidSchedule,
    UnknownEventKind,
    UnknownTask,
)
from crm_campaigns.domain.estimate import EstimateLine, EstimateTotals, totals
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.tasks import Task, TaskStatus, TaskTemplate, generate_tasks


class EventStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


@dataclass(frozen=True)
class Place:
    venue: str | None = None
    address: str | None = None
    online_url: str | None = None

    def __post_init__(self) -> None:
        if not (self.venue or self.address or self.online_url):
            raise InvalidSchedule(
                "a place needs a venue, an address or an online link", field="place"
            )


@dataclass(frozen=True)
class Slot:
    """When an event happens: aware start and end, and the zone it is held in."""

    starts_at: datetime
    ends_at: datetime
    timezone: str

    def __post_init__(self) -> None:
        if self.starts_at.tzinfo is None:
            raise InvalidSchedule("starts_at needs a time zone offset", field="starts_at")
        if self.ends_at.tzinfo is None:
            raise InvalidSchedule("ends_at needs a time zone offset", field="ends_at")
        if self.ends_at <= self.starts_at:
            raise InvalidSchedule("the event must end after it starts", field="ends_at")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise InvalidSchedule(
                f"{self.timezone!r} is not an IANA time zone", field="timezone"
            ) from exc

    @property
    def local_start_day(self) -> date:
        return self.starts_at.astimezone(ZoneInfo(self.timezone)).date()


@dataclass(frozen=True)
class Rescheduled:
    previous: Slot
    moved_tasks: tuple[tuple[Task, date], ...]
    """Each open task with its previous due date."""
    reason: str | None


@dataclass(frozen=True)
class Cancelled:
    cancelled_tasks: tuple[Task, ...]
    reason: str | None


@dataclass(frozen=True)
class Amendment:
    """What a PATCH changes; ``set_*`` says a nullable field was given (``None`` clears it)."""

    title: str | None = None
    topic: str | None = None
    set_topic: bool = False
    place: Place | None = None
    capacity: int | None = None
    set_capacity: bool = False
    budget: Money | None = None
    set_budget: bool = False
    responsible_employee_ids: tuple[str, ...] | None = None


@dataclass
class MarketingEvent:
    event_id: str
    kind: str
    title: str
    place: Place
    slot: Slot
    scheduled_at: datetime
    topic: str | None = None
    programme_id: str | None = None
    capacity: int | None = None
    budget: Money | None = None
    responsible_employee_ids: tuple[str, ...] = ()
    status: EventStatus = EventStatus.SCHEDULED
    tasks: list[Task] = field(default_factory=list)
    estimate_lines: tuple[EstimateLine, ...] = ()
    estimate_currency: str | None = None
    status_changed_at: datetime | None = None
    status_reason: str | None = None
    version: int = 0

    # -- creation --------------------------------------------------------------------------
    @classmethod
    def schedule(
        cls,
        *,
        event_id: str,
        kind: str,
        known_kinds: frozenset[str],
        title: str,
        place: Place,
        slot: Slot,
        template: TaskTemplate,
        now: datetime,
        new_id: Callable[[], str],
        topic: str | None = None,
        programme_id: str | None = None,
        capacity: int | None = None,
        budget: Money | None = None,
        responsible_employee_ids: tuple[str, ...] = (),
    ) -> MarketingEvent:
        if kind not in known_kinds:
            raise UnknownEventKind(
                f"{kind!r} is not an event kind; known: {', '.join(sorted(known_kinds))}",
                field="kind",
            )
        if not title.strip():
            raise InvalidSchedule("an event needs a title", field="title")
        if capacity is not None and capacity < 0:
            raise InvalidSchedule("capacity must not be negative", field="capacity")
        if budget is not None and budget.amount_minor < 0:
            raise InvalidAmount("the budget must not be negative", field="budget.amount_minor")
        event = cls(
            event_id=event_id,
            kind=kind,
            title=title.strip(),
            place=place,
            slot=slot,
            scheduled_at=now,
            topic=topic,
            programme_id=programme_id,
            capacity=capacity,
            budget=budget,
            responsible_employee_ids=responsible_employee_ids,
        )
        event.tasks = generate_tasks(
            template,
            start_day=slot.local_start_day,
            responsible_ids=responsible_employee_ids,
            now=now,
            new_id=new_id,
        )
        return event

    # -- lifecycle ---------------------------------------------------------------------------
    def _must_be_scheduled(self) -> None:
        if self.status == EventStatus.CANCELLED:
            raise EventAlreadyCancelled(f"event {self.event_id} was cancelled")
        if self.status == EventStatus.COMPLETED:
            raise EventAlreadyCompleted(f"event {self.event_id} is already completed")

    def ensure_open(self) -> None:
        """Participants, invitations and check-ins need an event that still lies ahead."""
        self._must_be_scheduled()

    def reschedule(
        self, slot: Slot, *, place: Place | None = None, reason: str | None = None
    ) -> Rescheduled:
        self._must_be_scheduled()
        previous = self.slot
        shift = slot.local_start_day - previous.local_start_day
        moved: list[tuple[Task, date]] = []
        new_tasks: list[Task] = []
        for task in self.tasks:
            if task.is_open and shift.days != 0:
                moved_task = replace(task, due_on=task.due_on + shift)
                moved.append((moved_task, task.due_on))
                new_tasks.append(moved_task)
            else:
                new_tasks.append(task)
        self.tasks = new_tasks
        self.slot = slot
        if place is not None:
            self.place = place
        return Rescheduled(previous, tuple(moved), reason)

    def amend(self, changes: Amendment, *, seats_taken: int) -> None:
        """Change what the event is, not when: the title, topic, place, capacity, budget and
        responsible employees (all checked before any is applied). Dates move only through a
        reschedule."""
        self._must_be_scheduled()
        if changes.title is not None and not changes.title.strip():
            raise InvalidSchedule("an event needs a title", field="title")
        capacity = changes.capacity
        if changes.set_capacity and capacity is not None:
            if capacity < 0:
                raise InvalidSchedule("capacity must not be negative", field="capacity")
            if capacity < seats_taken:
                raise EventAtCapacity(
                    f"{seats_taken} seats are taken; the capacity cannot go below that",
                    field="capacity",
                )
        budget = changes.budget
        if changes.set_budget and budget is not None and budget.amount_minor < 0:
            raise InvalidAmount("the budget must not be negative", field="budget.amount_minor")
        if changes.title is not None:
            self.title = changes.title.strip()
        if changes.set_topic:
            self.topic = changes.topic
        if changes.place is not None:
            self.place = changes.place
        if changes.set_capacity:
            self.capacity = capacity
        if changes.set_budget:
            self.budget = budget
        if changes.responsible_employee_ids is not None:
            self.responsible_employee_ids = changes.responsible_employee_ids

    def cancel(self, *, now: datetime, reason: str | None = None) -> Cancelled:
        self._must_be_scheduled()
        cancelled: list[Task] = []
        new_tasks: list[Task] = []
        for task in self.tasks:
            if task.is_open:
                done = task.moved_to(TaskStatus.CANCELLED, now=now)
                cancelled.append(done)
                new_tasks.append(done)
            else:
                new_tasks.append(task)
        self.tasks = new_tasks
        self.status = EventStatus.CANCELLED
        self.status_changed_at = now
        self.status_reason = reason
        return Cancelled(tuple(cancelled), reason)

    def complete(self, *, now: datetime) -> None:
        self._must_be_scheduled()
        if now < self.slot.starts_at:
            raise EventNotStarted(f"event {self.event_id} has not started yet")
        self.status = EventStatus.COMPLETED
        self.status_changed_at = now

    # -- tasks ---------------------------------------------------------------------------------
    def task(self, task_id: str) -> Task:
        for task in self.tasks:
            if task.task_id == task_id:
                return task
        raise UnknownTask(f"event {self.event_id} has no task {task_id}")

    def move_task(
        self, task_id: str, status: TaskStatus, *, now: datetime, by: str | None = None
    ) -> Task:
        current = self.task(task_id)
        moved = current.moved_to(status, now=now, by=by)
        self.tasks = [moved if t.task_id == task_id else t for t in self.tasks]
        return moved

    def assign_task(self, task_id: str, assignee_id: str) -> tuple[Task, str | None]:
        current = self.task(task_id)
        if not current.is_open:
            raise IllegalTaskTransition(f"task {task_id} is {current.status}", field="assignee_id")
        moved = replace(current, assignee_id=assignee_id)
        self.tasks = [moved if t.task_id == task_id else t for t in self.tasks]
        return moved, current.assignee_id

    # -- estimate ------------------------------------------------------------------------------
    def set_estimate(self, lines: tuple[EstimateLine, ...], currency: str) -> EstimateTotals:
        if self.status == EventStatus.CANCELLED:
            raise EventAlreadyCancelled(f"event {self.event_id} was cancelled")
        result = totals(lines, self.budget, currency)
        self.estimate_lines = lines
        self.estimate_currency = currency
        return result

    def estimate_totals(self) -> EstimateTotals:
        currency = self.estimate_currency or (self.budget.currency if self.budget else "EUR")
        return totals(self.estimate_lines, self.budget, currency)
