"""Preparation: an event's tasks, the task templates per kind, and the cost estimate."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from crm_kit.clock import utc_now
from crm_kit.http import MAX_ID_LENGTH, IdPath, LabelPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response

from crm_campaigns.api.common import IfMatch, Reader, Writer, etag
from crm_campaigns.api.planning import money_out
from crm_campaigns.domain.estimate import EstimateTotals
from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.tasks import Task, TaskTemplate
from crm_campaigns.handlers import planning as handlers
from crm_campaigns.repository.planning import EventRepository, TemplateRepository
from crm_campaigns.schemas.common import MoneyOut
from crm_campaigns.schemas.planning import (
    AssignedTaskList,
    AssignedTaskOut,
    EstimateBody,
    EstimateLineOut,
    EstimateOut,
    TaskList,
    TaskOut,
    TaskPatch,
    TemplateBody,
    TemplateItemOut,
    TemplateList,
    TemplateOut,
)

router = APIRouter(tags=["preparation"])


def task_out(t: Task, today: date) -> TaskOut:
    return TaskOut(
        id=t.task_id,
        title=t.title,
        category=t.category,
        due_on=t.due_on,
        status=t.status,
        overdue=t.overdue(today),
        department=t.department,
        role=t.role,
        assignee_id=t.assignee_id,
        template_item_id=t.template_item_id,
        completed_at=t.completed_at,
    )


def template_out(t: TaskTemplate) -> TemplateOut:
    return TemplateOut(
        kind=t.kind,
        items=[TemplateItemOut.model_validate(i, from_attributes=True) for i in t.items],
        version=t.version,
        edited=t.version > 0,
    )


def estimate_out(e: MarketingEvent, totals: EstimateTotals) -> EstimateOut:
    return EstimateOut(
        event_id=e.event_id,
        currency=totals.currency,
        lines=[
            EstimateLineOut(
                line_id=line.line_id,
                category=line.category,
                description=line.description,
                quantity=line.quantity,
                planned_unit_minor=line.planned_unit.amount_minor,
                actual_unit_minor=line.actual_unit.amount_minor if line.actual_unit else None,
                planned_total_minor=line.planned.amount_minor,
                actual_total_minor=line.actual.amount_minor if line.actual else None,
            )
            for line in e.estimate_lines
        ],
        planned_total=MoneyOut(amount_minor=totals.planned.amount_minor, currency=totals.currency),
        actual_total=MoneyOut(amount_minor=totals.actual.amount_minor, currency=totals.currency),
        budget=money_out(totals.budget),
        planned_variance=money_out(totals.planned_variance),
        actual_variance=money_out(totals.actual_variance),
        over_budget=totals.over_budget,
        version=e.version,
    )


# -- tasks and templates --
@router.get(
    "/events/{event_id}/tasks", responses=problem_responses(404), summary="An event's tasks"
)
async def list_tasks(
    event_id: IdPath,
    runtime: RuntimeDep,
    _: Reader,
    response: Response,
    overdue: bool | None = None,
) -> TaskList:
    event = await EventRepository(runtime).get(event_id)
    today = utc_now().date()
    tasks = [task_out(t, today) for t in sorted(event.tasks, key=lambda t: (t.due_on, t.task_id))]
    if overdue is not None:
        tasks = [t for t in tasks if t.overdue == overdue]
    etag(response, event.version)
    return TaskList(event_id=event_id, items=tasks, version=event.version)


@router.get(
    "/tasks",
    summary="One person's open preparation tasks across events, overdue first",
    description="For a to-do list (the console's My work): every task still open or in "
    "progress that `assignee_id` holds, with its event.",
)
async def tasks_assigned_to(
    runtime: RuntimeDep,
    _: Reader,
    assignee_id: Annotated[str, Query(min_length=1, max_length=MAX_ID_LENGTH)],
) -> AssignedTaskList:
    found = await handlers.tasks_assigned_to(runtime, assignee_id)
    today = utc_now().date()
    return AssignedTaskList(
        items=[
            AssignedTaskOut(
                **task_out(task, today).model_dump(),
                event_id=event.event_id,
                event_title=event.title,
                event_starts_at=event.slot.starts_at,
                event_version=event.version,
            )
            for event, task in found.tasks
        ],
        truncated=found.truncated,
    )


@router.patch(
    "/events/{event_id}/tasks/{task_id}",
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Move a task along (open → in progress → done | cancelled) or reassign it",
)
async def change_task(
    event_id: IdPath,
    task_id: IdPath,
    body: TaskPatch,
    runtime: RuntimeDep,
    caller: Writer,
    version: IfMatch,
    response: Response,
) -> TaskOut:
    event, task = await handlers.change_task(
        runtime, event_id, task_id, body, by=caller.subject, expected_version=version
    )
    etag(response, event.version)
    return task_out(task, utc_now().date())


@router.get("/task-templates", summary="The task template of every event kind")
async def list_templates(runtime: RuntimeDep, _: Reader) -> TemplateList:
    return TemplateList(items=[template_out(t) for t in await TemplateRepository(runtime).all()])


@router.get("/task-templates/{kind}", summary="The task template of one kind")
async def get_template(
    kind: LabelPath, runtime: RuntimeDep, _: Reader, response: Response
) -> TemplateOut:
    template = await TemplateRepository(runtime).get(kind)
    etag(response, template.version)
    return template_out(template)


@router.put(
    "/task-templates/{kind}",
    responses=problem_responses(412, 422, 428),
    summary='Edit a kind\'s template (If-Match; "0" for a shipped default); a new kind is added',
)
async def edit_template(
    kind: LabelPath,
    body: TemplateBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> TemplateOut:
    template = await handlers.edit_template(runtime, kind, body, expected_version=version)
    etag(response, template.version)
    return template_out(template)


# -- estimate --
@router.get(
    "/events/{event_id}/estimate", responses=problem_responses(404), summary="The cost estimate"
)
async def get_estimate(
    event_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> EstimateOut:
    event = await EventRepository(runtime).get(event_id)
    etag(response, event.version)
    return estimate_out(event, event.estimate_totals())


@router.put(
    "/events/{event_id}/estimate",
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Replace the estimate's lines (If-Match of the event)",
)
async def set_estimate(
    event_id: IdPath,
    body: EstimateBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> EstimateOut:
    event, totals = await handlers.set_estimate(runtime, event_id, body, expected_version=version)
    etag(response, event.version)
    return estimate_out(event, totals)
