"""Programmes, events and their lifecycle, tasks, templates and the estimate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from crm_contracts.campaigns import CampaignsEvent
from crm_kit.clock import utc_now
from crm_kit.runtime import Runtime

from crm_campaigns import facts
from crm_campaigns.domain.errors import CampaignsError
from crm_campaigns.domain.estimate import EstimateLine, EstimateTotals
from crm_campaigns.domain.events import Amendment, MarketingEvent, Place, Slot
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.programmes import Portrait, Programme
from crm_campaigns.domain.tasks import Task, TaskStatus, TaskTemplate, TemplateItem, open_tasks_of
from crm_campaigns.handlers import participants
from crm_campaigns.repository.planning import (
    EventRepository,
    ProgrammeRepository,
    TemplateRepository,
)
from crm_campaigns.schemas.common import MoneyBody, PlaceBody
from crm_campaigns.schemas.planning import (
    EstimateBody,
    EventBody,
    EventPatch,
    ProgrammeBody,
    RescheduleBody,
    TaskPatch,
    TemplateBody,
)


def new_id() -> str:
    return str(uuid.uuid4())


def _money(body: MoneyBody | None) -> Money | None:
    return None if body is None else Money(body.amount_minor, body.currency)


def _place(body: PlaceBody) -> Place:
    return Place(body.venue, body.address, body.online_url)


def _programme(programme_id: str, body: ProgrammeBody, version: int) -> Programme:
    p = body.portrait
    return Programme(
        programme_id=programme_id,
        name=body.name.strip(),
        portrait=Portrait(
            statuses=tuple(s.value for s in p.statuses),
            field_of_activity_codes=tuple(p.field_of_activity_codes),
            regions=tuple(p.regions),
            sizes=tuple(s.value for s in p.sizes),
            tags=tuple(t.strip().lower() for t in p.tags),
        ),
        promoted_item_codes=tuple(body.promoted_item_codes),
        starts_on=body.starts_on,
        ends_on=body.ends_on,
        budget=_money(body.budget),
        defined_at=utc_now(),
        version=version,
    )


async def define_programme(runtime: Runtime, body: ProgrammeBody) -> Programme:
    programme = _programme(new_id(), body, version=1)
    await ProgrammeRepository(runtime).add(programme, [facts.programme_defined(programme)])
    return programme


async def redefine_programme(
    runtime: Runtime, programme_id: str, body: ProgrammeBody, *, expected_version: int
) -> Programme:
    repo = ProgrammeRepository(runtime)
    await repo.get(programme_id)
    programme = _programme(programme_id, body, version=expected_version + 1)
    await repo.save(
        programme, [facts.programme_defined(programme)], expected_version=expected_version
    )
    return programme


async def schedule_event(runtime: Runtime, body: EventBody) -> MarketingEvent:
    templates = TemplateRepository(runtime)
    if body.programme_id is not None:
        await ProgrammeRepository(runtime).get(body.programme_id)
    event = MarketingEvent.schedule(
        event_id=new_id(),
        kind=body.kind,
        known_kinds=await templates.kinds(),
        title=body.title,
        topic=body.topic,
        place=_place(body.place),
        slot=Slot(body.starts_at, body.ends_at, body.timezone),
        template=await templates.get(body.kind),
        now=utc_now(),
        new_id=new_id,
        programme_id=body.programme_id,
        capacity=body.capacity,
        budget=_money(body.budget),
        responsible_employee_ids=tuple(body.responsible_employee_ids),
    )
    event.version = await EventRepository(runtime).add(event, facts.event_scheduled(event, 1))
    return event


async def reschedule_event(
    runtime: Runtime, event_id: str, body: RescheduleBody, *, expected_version: int
) -> MarketingEvent:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    slot = Slot(body.starts_at, body.ends_at, body.timezone or event.slot.timezone)
    change = event.reschedule(
        slot, place=_place(body.place) if body.place else None, reason=body.reason
    )
    event.version = await repo.save(
        event,
        facts.event_rescheduled(event, change, utc_now(), expected_version + 1),
        expected_version=expected_version,
    )
    return event


async def amend_event(
    runtime: Runtime, event_id: str, body: EventPatch, *, expected_version: int
) -> MarketingEvent:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    given = body.model_fields_set
    if "title" in given and body.title is None:
        raise CampaignsError("an event needs a title", field="title")
    before = event.capacity
    event.amend(
        Amendment(
            title=body.title,
            topic=body.topic,
            set_topic="topic" in given,
            place=_place(body.place) if body.place is not None else None,
            capacity=body.capacity,
            set_capacity="capacity" in given,
            budget=_money(body.budget),
            set_budget="budget" in given,
            responsible_employee_ids=(
                tuple(body.responsible_employee_ids)
                if body.responsible_employee_ids is not None
                else None
            ),
        ),
        seats_taken=await participants.seats_held(runtime, event_id, counted=before is not None),
    )
    # The event's details again, at the new version: a higher version replaces the older.
    (scheduled, *_) = facts.event_scheduled(event, expected_version + 1)
    event.version = await repo.save(event, [scheduled], expected_version=expected_version)
    if event.capacity != before:
        await participants.capacity_changed(runtime, event, counted_before=before is not None)
    return event


async def cancel_event(
    runtime: Runtime, event_id: str, reason: str | None, *, expected_version: int
) -> MarketingEvent:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    now = utc_now()
    change = event.cancel(now=now, reason=reason)
    event.version = await repo.save(
        event,
        facts.event_cancelled(event, change, now, expected_version + 1),
        expected_version=expected_version,
    )
    return event


async def complete_event(
    runtime: Runtime, event_id: str, *, expected_version: int
) -> MarketingEvent:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    now = utc_now()
    event.complete(now=now)
    event.version = await repo.save(
        event,
        [facts.event_completed(event, now, expected_version + 1)],
        expected_version=expected_version,
    )
    await participants.mark_no_shows(runtime, event_id)
    return event


ASSIGNED_EVENTS_LIMIT = 200
"""The most events whose tasks one person's list gathers (the soonest first)."""


@dataclass(frozen=True)
class AssignedTasks:
    tasks: list[tuple[MarketingEvent, Task]]
    """Each open task with its event, overdue first."""
    truncated: bool
    """More events hold this person's open tasks than the list gathered."""


async def tasks_assigned_to(runtime: Runtime, assignee_id: str) -> AssignedTasks:
    """The open preparation tasks that ``assignee_id`` holds, across events."""
    found = await EventRepository(runtime).with_open_tasks_of(
        assignee_id, ASSIGNED_EVENTS_LIMIT + 1
    )
    kept = found[:ASSIGNED_EVENTS_LIMIT]
    by_id = {e.event_id: e for e in kept}
    tasks = open_tasks_of([(e.event_id, e.tasks) for e in kept], assignee_id, utc_now().date())
    return AssignedTasks(
        [(by_id[event_id], task) for event_id, task in tasks],
        truncated=len(found) > ASSIGNED_EVENTS_LIMIT,
    )


async def change_task(
    runtime: Runtime,
    event_id: str,
    task_id: str,
    body: TaskPatch,
    *,
    by: str,
    expected_version: int,
) -> tuple[MarketingEvent, Task]:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    now = utc_now()
    out: list[CampaignsEvent] = []
    task = event.task(task_id)
    if body.assignee_id is not None and body.assignee_id != task.assignee_id:
        task, previous = event.assign_task(task_id, body.assignee_id)
        out.append(facts.task_assigned(event, task, previous, now))
    if body.status is not None and body.status != task.status:
        task = event.move_task(task_id, body.status, now=now, by=by)
        if task.status == TaskStatus.DONE:
            out.append(facts.task_completed(event, task))
        elif task.status == TaskStatus.CANCELLED:
            out.append(facts.task_cancelled(event, task, now))
    event.version = await repo.save(event, out, expected_version=expected_version)
    return event, task


async def edit_template(
    runtime: Runtime, kind: str, body: TemplateBody, *, expected_version: int
) -> TaskTemplate:
    template = TaskTemplate(
        kind=kind,
        items=tuple(
            TemplateItem(
                item_id=i.item_id,
                title=i.title,
                category=i.category,
                days_before=i.days_before,
                department=i.department.value if i.department else None,
                role=i.role,
                default_assignee_id=i.default_assignee_id,
            )
            for i in body.items
        ),
    )
    version = await TemplateRepository(runtime).save(template, expected_version=expected_version)
    return TaskTemplate(kind=kind, items=template.items, version=version)


async def set_estimate(
    runtime: Runtime, event_id: str, body: EstimateBody, *, expected_version: int
) -> tuple[MarketingEvent, EstimateTotals]:
    repo = EventRepository(runtime)
    event = await repo.get(event_id)
    lines = []
    for index, line in enumerate(body.lines):
        try:
            lines.append(
                EstimateLine(
                    line_id=line.line_id or new_id(),
                    category=line.category,
                    description=line.description,
                    quantity=line.quantity,
                    planned_unit=Money(line.planned_unit_minor, body.currency),
                    actual_unit=(
                        Money(line.actual_unit_minor, body.currency)
                        if line.actual_unit_minor is not None
                        else None
                    ),
                )
            )
        except CampaignsError as exc:
            exc.field = f"body.lines[{index}].{exc.field}" if exc.field else f"body.lines[{index}]"
            raise
    result = event.set_estimate(tuple(lines), body.currency)
    event.version = await repo.save(event, [], expected_version=expected_version)
    return event, result
