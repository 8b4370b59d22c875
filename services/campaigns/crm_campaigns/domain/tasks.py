"""Preparation tasks and the per-kind templates they are generated from."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from crm_campaigns.domain.errors import CampaignsError, IllegalTaskTransition


class TaskCategory(enum.StrEnum):
    VENUE = "venue"
    PRESS_ADVERTISING = "press_advertising"
    COST_ESTIMATE = "cost_estimate"
    EQUIPMENT = "equipment"
    SPECIALISTS = "specialists"
    PROGRAMME = "programme"
    OTHER = "other"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


_MOVES: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.IN_PROGRESS, TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.DONE, TaskStatus.CANCELLED}),
    TaskStatus.DONE: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}
OPEN_STATUSES = frozenset({TaskStatus.OPEN, TaskStatus.IN_PROGRESS})


@dataclass(frozen=True)
class TemplateItem:
    item_id: str
    title: str
    category: TaskCategory
    days_before: int
    department: str | None = None
    role: str | None = None
    default_assignee_id: str | None = None

    def __post_init__(self) -> None:
        if self.days_before < 0:
            raise CampaignsError("days_before must not be negative", field="days_before")
        if not self.title.strip():
            raise CampaignsError("a template item needs a title", field="title")


@dataclass(frozen=True)
class TaskTemplate:
    kind: str
    items: tuple[TemplateItem, ...]
    version: int = 0
    """0 for the shipped default that no one has edited yet."""

    def __post_init__(self) -> None:
        ids = [i.item_id for i in self.items]
        if len(ids) != len(set(ids)):
            raise CampaignsError("template item ids must be unique", field="items")


@dataclass(frozen=True)
class Task:
    task_id: str
    title: str
    category: TaskCategory
    due_on: date
    status: TaskStatus
    created_at: datetime
    department: str | None = None
    role: str | None = None
    assignee_id: str | None = None
    template_item_id: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def overdue(self, today: date) -> bool:
        return self.is_open and self.due_on < today

    def moved_to(self, status: TaskStatus, *, now: datetime, by: str | None = None) -> Task:
        if status == self.status:
            return self
        if status not in _MOVES[self.status]:
            raise IllegalTaskTransition(
                f"task {self.task_id} is {self.status}; it cannot become {status}", field="status"
            )
        if status == TaskStatus.DONE:
            return replace(self, status=status, completed_at=now, completed_by=by)
        return replace(self, status=status)


def generate_tasks(
    template: TaskTemplate,
    *,
    start_day: date,
    responsible_ids: tuple[str, ...],
    now: datetime,
    new_id: Callable[[], str],
) -> list[Task]:
    """One task per template item, due ``days_before`` the event's local start day.

    The assignee is the item's default, else the event's first responsible employee.
    """
    fallback = responsible_ids[0] if responsible_ids else None
    return [
        Task(
            task_id=new_id(),
            title=item.title,
            category=item.category,
            due_on=start_day - timedelta(days=item.days_before),
            status=TaskStatus.OPEN,
            created_at=now,
            department=item.department,
            role=item.role,
            assignee_id=item.default_assignee_id or fallback,
            template_item_id=item.item_id,
        )
        for item in template.items
    ]


DEFAULT_KINDS: tuple[str, ...] = (
    "exhibition",
    "seminar",
    "conference",
    "presentation",
    "webinar",
    "reception",
)

# Lead times in days per kind for the items the source document names: reserving the venue
# (exhibition space), press advertising, the cost estimate, equipment, specialists, the event
# programme, and sending the invitations.
_LEADS: dict[str, dict[str, int]] = {
    "exhibition": {
        "venue": 120, "press": 60, "estimate": 90, "equipment": 30,
        "specialists": 45, "programme": 30, "invitations": 21,
    },
    "conference": {
        "venue": 90, "press": 45, "estimate": 75, "equipment": 21,
        "specialists": 30, "programme": 30, "invitations": 21,
    },
    "seminar": {
        "venue": 45, "press": 30, "estimate": 40, "equipment": 14,
        "specialists": 21, "programme": 21, "invitations": 14,
    },
    "presentation": {
        "venue": 30, "press": 21, "estimate": 25, "equipment": 10,
        "specialists": 14, "programme": 14, "invitations": 10,
    },
    "webinar": {
        "venue": 14, "press": 14, "estimate": 14, "equipment": 7,
        "specialists": 10, "programme": 10, "invitations": 7,
    },
    "reception": {
        "venue": 45, "press": 21, "estimate": 40, "equipment": 14,
        "specialists": 21, "programme": 14, "invitations": 14,
    },
}  # fmt: skip


def default_template(kind: str) -> TaskTemplate:
    """The shipped template for a kind; an unknown kind gets the seminar's lead times."""
    lead = _LEADS.get(kind, _LEADS["seminar"])
    online = kind == "webinar"
    venue = (
        "Set up the webinar platform and the online link"
        if online
        else "Reserve the venue (exhibition space, hall)"
    )
    items = (
        TemplateItem("venue", venue, TaskCategory.VENUE, lead["venue"], "marketing"),
        TemplateItem(
            "press",
            "Book advertising slots in the press",
            TaskCategory.PRESS_ADVERTISING,
            lead["press"],
            "marketing",
        ),
        TemplateItem(
            "estimate",
            "Draw up the cost estimate",
            TaskCategory.COST_ESTIMATE,
            lead["estimate"],
            "finance",
        ),
        TemplateItem(
            "equipment",
            "Order the equipment",
            TaskCategory.EQUIPMENT,
            lead["equipment"],
            "logistics",
        ),
        TemplateItem(
            "specialists",
            "Order the specialists (speakers, interpreters, technicians)",
            TaskCategory.SPECIALISTS,
            lead["specialists"],
            "marketing",
        ),
        TemplateItem(
            "programme",
            "Prepare the event programme",
            TaskCategory.PROGRAMME,
            lead["programme"],
            "marketing",
        ),
        TemplateItem(
            "invitations",
            "Send invitations to clients and notifications to employees",
            TaskCategory.OTHER,
            lead["invitations"],
            "marketing",
        ),
    )
    return TaskTemplate(kind=kind, items=items, version=0)


def open_tasks_of(
    events: Sequence[tuple[str, Sequence[Task]]], assignee_id: str, today: date
) -> list[tuple[str, Task]]:
    """The open tasks of ``events`` (each with its event id) that ``assignee_id`` holds:
    overdue first, then by due date and title."""
    found = [
        (event_id, t)
        for event_id, tasks in events
        for t in tasks
        if t.assignee_id == assignee_id and t.is_open
    ]
    return sorted(found, key=lambda f: (not f[1].overdue(today), f[1].due_on, f[1].title))
