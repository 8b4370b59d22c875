"""Programmes, events, the plan-schedule, tasks, templates and the estimate over HTTP."""

from __future__ import annotations

from datetime import date, datetime

from crm_contracts.values import ClientSize, ClientStatus, Department
from crm_kit.fields import (
    Code,
    Count,
    Days,
    DomainDate,
    DomainDateTime,
    Id,
    Label,
    LongText,
    MinorUnits,
    Name,
    ShortText,
    TimeZone,
)
from pydantic import BaseModel, Field

from crm_campaigns.domain.tasks import TaskCategory, TaskStatus
from crm_campaigns.schemas.common import Currency, MoneyBody, MoneyOut, PlaceBody, PlaceOut, Strict


class PortraitBody(Strict):
    statuses: list[ClientStatus] = Field(default=[], max_length=10)
    field_of_activity_codes: list[Code] = Field(default=[], max_length=200)
    regions: list[ShortText] = Field(default=[], max_length=200)
    sizes: list[ClientSize] = Field(default=[], max_length=10)
    tags: list[Label] = Field(
        default=[], max_length=50, description="A client matches with any one of them"
    )


class PortraitOut(BaseModel):
    statuses: list[ClientStatus]
    field_of_activity_codes: list[str]
    regions: list[str]
    sizes: list[ClientSize]
    tags: list[str]


class ProgrammeBody(Strict):
    name: Name
    portrait: PortraitBody = PortraitBody()
    promoted_item_codes: list[Code] = Field(default=[], max_length=200)
    starts_on: DomainDate
    ends_on: DomainDate
    budget: MoneyBody | None = None


class ProgrammeOut(BaseModel):
    id: str
    name: str
    portrait: PortraitOut
    promoted_item_codes: list[str]
    starts_on: date
    ends_on: date
    budget: MoneyOut | None
    defined_at: datetime
    version: int


class ProgrammePage(BaseModel):
    items: list[ProgrammeOut]
    next_cursor: str | None


class EventBody(Strict):
    kind: Label = Field(examples=["seminar"])
    title: Name
    topic: LongText | None = None
    place: PlaceBody
    starts_at: DomainDateTime
    ends_at: DomainDateTime
    timezone: TimeZone
    capacity: Count | None = None
    budget: MoneyBody | None = None
    responsible_employee_ids: list[Id] = Field(default=[], max_length=100)
    programme_id: Id | None = None


class RescheduleBody(Strict):
    starts_at: DomainDateTime
    ends_at: DomainDateTime
    timezone: TimeZone | None = None
    place: PlaceBody | None = None
    reason: LongText | None = None


class EventPatch(Strict):
    """What an event is, not when: dates move through ``POST /events/{id}/reschedule``.
    A field left out stays as it is; ``null`` clears the topic, capacity or budget."""

    title: Name | None = None
    topic: LongText | None = None
    place: PlaceBody | None = None
    capacity: Count | None = None
    budget: MoneyBody | None = None
    responsible_employee_ids: list[Id] | None = Field(default=None, max_length=100)


class ReasonBody(Strict):
    reason: LongText | None = None


class EventOut(BaseModel):
    id: str
    kind: str
    title: str
    topic: str | None
    place: PlaceOut
    starts_at: datetime
    ends_at: datetime
    timezone: str
    capacity: int | None
    budget: MoneyOut | None
    responsible_employee_ids: list[str]
    programme_id: str | None
    status: str
    scheduled_at: datetime
    status_reason: str | None
    open_tasks: int
    overdue_tasks: int
    version: int


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class TaskOut(BaseModel):
    id: str
    title: str
    category: TaskCategory
    due_on: date
    status: TaskStatus
    overdue: bool
    department: str | None
    role: str | None
    assignee_id: str | None
    template_item_id: str | None
    completed_at: datetime | None


class TaskList(BaseModel):
    event_id: str
    items: list[TaskOut]
    next_cursor: str | None = None
    version: int
    """The event's version: send it as If-Match to change a task."""


class AssignedTaskOut(TaskOut):
    event_id: str
    event_title: str
    event_starts_at: datetime
    event_version: int = Field(
        description="The event's version: send it as If-Match to change the task."
    )


class AssignedTaskList(BaseModel):
    items: list[AssignedTaskOut] = Field(description="Overdue first, then by due date.")
    truncated: bool = Field(
        description="The person holds open tasks on more events than one list gathers "
        "(the 200 soonest are read)."
    )


class TaskPatch(Strict):
    status: TaskStatus | None = None
    assignee_id: Id | None = None


class TemplateItemBody(Strict):
    item_id: str = Field(min_length=1, max_length=100)
    title: Name
    category: TaskCategory
    days_before: Days
    department: Department | None = None
    role: Label | None = None
    default_assignee_id: Id | None = None


class TemplateBody(Strict):
    items: list[TemplateItemBody] = Field(max_length=200)


class TemplateItemOut(BaseModel):
    item_id: str
    title: str
    category: TaskCategory
    days_before: int
    department: Department | None
    role: str | None
    default_assignee_id: str | None


class TemplateOut(BaseModel):
    kind: str
    items: list[TemplateItemOut]
    version: int
    edited: bool


class TemplateList(BaseModel):
    items: list[TemplateOut]
    next_cursor: str | None = None


class EstimateLineBody(Strict):
    line_id: Id | None = None
    category: Label = Field(examples=["venue"])
    description: ShortText = ""
    quantity: Count
    planned_unit_minor: MinorUnits
    actual_unit_minor: MinorUnits | None = None


class EstimateBody(Strict):
    currency: Currency
    lines: list[EstimateLineBody] = Field(max_length=500)


class EstimateLineOut(BaseModel):
    line_id: str
    category: str
    description: str
    quantity: int
    planned_unit_minor: int
    actual_unit_minor: int | None
    planned_total_minor: int
    actual_total_minor: int | None


class EstimateOut(BaseModel):
    event_id: str
    currency: str
    lines: list[EstimateLineOut]
    planned_total: MoneyOut
    actual_total: MoneyOut
    budget: MoneyOut | None
    planned_variance: MoneyOut | None
    actual_variance: MoneyOut | None
    over_budget: bool
    version: int


class CalendarFeedBody(Strict):
    """A subscribable link to the plan-schedule, for calendar programs that cannot send a
    bearer token: the token in its URL reads this feed and nothing else."""

    label: str | None = Field(default=None, max_length=200, examples=["Marketing team"])
    kind: Label | None = None
    programme_id: Id | None = None
    responsible_employee_id: Id | None = None
    past_days: int = Field(default=90, ge=0, le=3650)
    """Events that ended up to this many days ago stay in the feed."""
    valid_days: int = Field(default=365, ge=1, le=3650)
    """The link stops working after this many days (it can be revoked before)."""


class CalendarFeedOut(BaseModel):
    id: str
    label: str | None
    kind: str | None
    programme_id: str | None
    responsible_employee_id: str | None
    past_days: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    path: str
    """Where the feed is served, e.g. /feeds/plan-schedule/{token}.ics."""
    url: str | None
    """The full address when the service knows its public base URL."""
    webcal_url: str | None


class CalendarFeedPage(BaseModel):
    items: list[CalendarFeedOut]
    next_cursor: str | None
