"""Stored documents ↔ domain objects (the stored shape is neither the HTTP nor the event one)."""

from __future__ import annotations

from datetime import date
from typing import Any

from crm_campaigns.domain.estimate import EstimateLine
from crm_campaigns.domain.events import EventStatus, MarketingEvent, Place, Slot
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.participants import Participant, ParticipantStatus, Role
from crm_campaigns.domain.programmes import Portrait, Programme
from crm_campaigns.domain.questionnaires import Question, QuestionKind, Questionnaire
from crm_campaigns.domain.tasks import Task, TaskCategory, TaskStatus, TaskTemplate, TemplateItem

Doc = dict[str, Any]


def money_doc(money: Money | None) -> Doc | None:
    return (
        None if money is None else {"amount_minor": money.amount_minor, "currency": money.currency}
    )


def money_of(doc: Doc | None) -> Money | None:
    return None if doc is None else Money(int(doc["amount_minor"]), str(doc["currency"]))


def place_doc(place: Place) -> Doc:
    return {"venue": place.venue, "address": place.address, "online_url": place.online_url}


def place_of(doc: Doc) -> Place:
    return Place(doc.get("venue"), doc.get("address"), doc.get("online_url"))


def task_doc(task: Task) -> Doc:
    return {
        "task_id": task.task_id,
        "title": task.title,
        "category": task.category.value,
        "due_on": task.due_on.isoformat(),
        "status": task.status.value,
        "created_at": task.created_at,
        "department": task.department,
        "role": task.role,
        "assignee_id": task.assignee_id,
        "template_item_id": task.template_item_id,
        "completed_at": task.completed_at,
        "completed_by": task.completed_by,
    }


def task_of(doc: Doc) -> Task:
    return Task(
        task_id=doc["task_id"],
        title=doc["title"],
        category=TaskCategory(doc["category"]),
        due_on=date.fromisoformat(doc["due_on"]),
        status=TaskStatus(doc["status"]),
        created_at=doc["created_at"],
        department=doc.get("department"),
        role=doc.get("role"),
        assignee_id=doc.get("assignee_id"),
        template_item_id=doc.get("template_item_id"),
        completed_at=doc.get("completed_at"),
        completed_by=doc.get("completed_by"),
    )


def line_doc(line: EstimateLine) -> Doc:
    return {
        "line_id": line.line_id,
        "category": line.category,
        "description": line.description,
        "quantity": line.quantity,
        "planned_unit": money_doc(line.planned_unit),
        "actual_unit": money_doc(line.actual_unit),
    }


def line_of(doc: Doc) -> EstimateLine:
    planned = money_of(doc["planned_unit"])
    assert planned is not None
    return EstimateLine(
        line_id=doc["line_id"],
        category=doc["category"],
        description=doc["description"],
        quantity=int(doc["quantity"]),
        planned_unit=planned,
        actual_unit=money_of(doc.get("actual_unit")),
    )


def event_doc(event: MarketingEvent) -> Doc:
    """Every field the aggregate owns (not ``version``/``outbox``, which the outbox manages)."""
    return {
        "kind": event.kind,
        "title": event.title,
        "topic": event.topic,
        "place": place_doc(event.place),
        "starts_at": event.slot.starts_at,
        "ends_at": event.slot.ends_at,
        "timezone": event.slot.timezone,
        "programme_id": event.programme_id,
        "capacity": event.capacity,
        "budget": money_doc(event.budget),
        "responsible_employee_ids": list(event.responsible_employee_ids),
        "status": event.status.value,
        "scheduled_at": event.scheduled_at,
        "status_changed_at": event.status_changed_at,
        "status_reason": event.status_reason,
        "tasks": [task_doc(t) for t in event.tasks],
        "estimate": {
            "currency": event.estimate_currency,
            "lines": [line_doc(line) for line in event.estimate_lines],
        },
    }


def event_of(doc: Doc) -> MarketingEvent:
    estimate = doc.get("estimate") or {}
    return MarketingEvent(
        event_id=doc["_id"],
        kind=doc["kind"],
        title=doc["title"],
        topic=doc.get("topic"),
        place=place_of(doc["place"]),
        slot=Slot(doc["starts_at"], doc["ends_at"], doc["timezone"]),
        scheduled_at=doc["scheduled_at"],
        programme_id=doc.get("programme_id"),
        capacity=doc.get("capacity"),
        budget=money_of(doc.get("budget")),
        responsible_employee_ids=tuple(doc.get("responsible_employee_ids", ())),
        status=EventStatus(doc["status"]),
        tasks=[task_of(t) for t in doc.get("tasks", ())],
        estimate_lines=tuple(line_of(line) for line in estimate.get("lines", ())),
        estimate_currency=estimate.get("currency"),
        status_changed_at=doc.get("status_changed_at"),
        status_reason=doc.get("status_reason"),
        version=int(doc.get("version", 0)),
    )


def programme_doc(programme: Programme) -> Doc:
    p = programme.portrait
    return {
        "name": programme.name,
        "portrait": {
            "statuses": list(p.statuses),
            "field_of_activity_codes": list(p.field_of_activity_codes),
            "regions": list(p.regions),
            "sizes": list(p.sizes),
            "tags": list(p.tags),
        },
        "promoted_item_codes": list(programme.promoted_item_codes),
        "starts_on": programme.starts_on.isoformat(),
        "ends_on": programme.ends_on.isoformat(),
        "budget": money_doc(programme.budget),
        "defined_at": programme.defined_at,
    }


def programme_of(doc: Doc) -> Programme:
    p = doc["portrait"]
    return Programme(
        programme_id=doc["_id"],
        name=doc["name"],
        portrait=Portrait(
            statuses=tuple(p.get("statuses", ())),
            field_of_activity_codes=tuple(p.get("field_of_activity_codes", ())),
            regions=tuple(p.get("regions", ())),
            sizes=tuple(p.get("sizes", ())),
            tags=tuple(p.get("tags", ())),
        ),
        promoted_item_codes=tuple(doc.get("promoted_item_codes", ())),
        starts_on=date.fromisoformat(doc["starts_on"]),
        ends_on=date.fromisoformat(doc["ends_on"]),
        budget=money_of(doc.get("budget")),
        defined_at=doc["defined_at"],
        version=int(doc.get("version", 0)),
    )


def template_doc(template: TaskTemplate) -> Doc:
    return {
        "items": [
            {
                "item_id": i.item_id,
                "title": i.title,
                "category": i.category.value,
                "days_before": i.days_before,
                "department": i.department,
                "role": i.role,
                "default_assignee_id": i.default_assignee_id,
            }
            for i in template.items
        ]
    }


def template_of(doc: Doc) -> TaskTemplate:
    return TaskTemplate(
        kind=doc["_id"],
        items=tuple(
            TemplateItem(
                item_id=i["item_id"],
                title=i["title"],
                category=TaskCategory(i["category"]),
                days_before=int(i["days_before"]),
                department=i.get("department"),
                role=i.get("role"),
                default_assignee_id=i.get("default_assignee_id"),
            )
            for i in doc.get("items", ())
        ),
        version=int(doc.get("version", 0)),
    )


PARTICIPANT_FIELDS = (
    "invited_at",
    "delivered_at",
    "failed_at",
    "answer",
    "answered_at",
    "attended_at",
    "no_show_at",
)


def participant_doc(p: Participant) -> Doc:
    return {
        "event_id": p.event_id,
        "who": p.who,
        "kind": p.kind,
        "role": p.role.value,
        "status": p.status.value,
        "added_at": p.added_at,
        "person_id": p.person_id,
        "client_id": p.client_id,
        "employee_id": p.employee_id,
        "name": p.name,
        "check_in_code": p.check_in_code,
        **{f: getattr(p, f) for f in PARTICIPANT_FIELDS},
    }


def participant_changes(p: Participant) -> Doc:
    """The fields of ``participant_doc(p)`` that differ from the document ``p`` was read from
    (all of them for a participant not read from the store). A version-guarded write that
    sets just these leaves the document as setting them all would, in fewer bytes."""
    doc = participant_doc(p)
    before = p.stored
    if before is None:
        return doc
    return {k: v for k, v in doc.items() if k not in before or before[k] != v}


def participant_of(doc: Doc) -> Participant:
    return Participant(
        participant_id=doc["_id"],
        event_id=doc["event_id"],
        kind=doc["kind"],
        role=Role(doc["role"]),
        status=ParticipantStatus(doc["status"]),
        added_at=doc["added_at"],
        person_id=doc.get("person_id"),
        client_id=doc.get("client_id"),
        employee_id=doc.get("employee_id"),
        name=doc.get("name"),
        check_in_code=doc.get("check_in_code"),
        version=int(doc.get("version", 0)),
        stored=doc,
        **{f: doc.get(f) for f in PARTICIPANT_FIELDS},
    )


def questionnaire_doc(q: Questionnaire) -> Doc:
    return {
        "title": q.title,
        "questions": [
            {
                "question_id": x.question_id,
                "text": x.text,
                "kind": x.kind.value,
                "options": list(x.options),
                "required": x.required,
            }
            for x in q.questions
        ],
    }


def questionnaire_of(doc: Doc) -> Questionnaire:
    return Questionnaire(
        event_id=doc["_id"],
        title=doc["title"],
        questions=tuple(
            Question(
                question_id=x["question_id"],
                text=x["text"],
                kind=QuestionKind(x["kind"]),
                options=tuple(x.get("options", ())),
                required=bool(x.get("required", False)),
            )
            for x in doc.get("questions", ())
        ),
        version=int(doc.get("version", 0)),
    )
