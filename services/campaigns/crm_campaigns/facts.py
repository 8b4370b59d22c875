"""Domain changes translated into ``crm_contracts`` events: the one place that does it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm_contracts import campaigns as c
from crm_contracts.campaign_parts import Participant as ParticipantPart
from crm_contracts.campaign_parts import Portrait as PortraitOut
from crm_contracts.common import Place as PlaceOut
from crm_contracts.common import Recipient
from crm_contracts.money import Money as MoneyOut
from crm_contracts.values import (
    AttendanceMethod,
    Channel,
    ClientSize,
    ClientStatus,
    Department,
    InvitationAnswer,
    Language,
    ParticipantRole,
    RecipientKind,
    SelectionMode,
    TaskCategory,
)
from crm_contracts.values import ParticipantStatus as StatusOut

from crm_campaigns.domain.events import Cancelled, MarketingEvent, Place, Rescheduled
from crm_campaigns.domain.money import Money
from crm_campaigns.domain.participants import Participant
from crm_campaigns.domain.programmes import Programme
from crm_campaigns.domain.tasks import Task


def money(m: Money | None) -> MoneyOut | None:
    return None if m is None else MoneyOut(amount_minor=m.amount_minor, currency=m.currency)


def place(p: Place) -> PlaceOut:
    return PlaceOut(venue=p.venue, address=p.address, online_url=p.online_url)


def programme_defined(p: Programme) -> c.ProgrammeDefined:
    return c.ProgrammeDefined(
        programme_id=p.programme_id,
        name=p.name,
        portrait=PortraitOut(
            statuses=tuple(ClientStatus(s) for s in p.portrait.statuses),
            field_of_activity_codes=p.portrait.field_of_activity_codes,
            regions=p.portrait.regions,
            sizes=tuple(ClientSize(s) for s in p.portrait.sizes),
            tags=p.portrait.tags,
        ),
        promoted_item_codes=p.promoted_item_codes,
        starts_on=p.starts_on,
        ends_on=p.ends_on,
        budget=money(p.budget),
        defined_at=p.defined_at,
        version=p.version,
    )


def _task_created(e: MarketingEvent, t: Task) -> list[c.CampaignsEvent]:
    created: list[c.CampaignsEvent] = [
        c.PreparationTaskCreated(
            event_id=e.event_id,
            task_id=t.task_id,
            title=t.title,
            category=TaskCategory(t.category.value),
            due_on=t.due_on,
            department=Department(t.department) if t.department else None,
            role=t.role,
            assignee_id=t.assignee_id,
            template_item_id=t.template_item_id,
            created_at=t.created_at,
        )
    ]
    if t.assignee_id is not None:
        created.append(task_assigned(e, t, None, t.created_at))
    return created


def task_assigned(e: MarketingEvent, t: Task, previous: str | None, at: datetime) -> c.TaskAssigned:
    assert t.assignee_id is not None
    return c.TaskAssigned(
        event_id=e.event_id,
        task_id=t.task_id,
        event_title=e.title,
        title=t.title,
        category=TaskCategory(t.category.value),
        due_on=t.due_on,
        assignee_id=t.assignee_id,
        previous_assignee_id=previous,
        assigned_at=at,
    )


def event_scheduled(e: MarketingEvent, version: int) -> list[c.CampaignsEvent]:
    facts: list[c.CampaignsEvent] = [
        c.EventScheduled(
            event_id=e.event_id,
            programme_id=e.programme_id,
            kind=e.kind,
            title=e.title,
            topic_text=e.topic,
            place=place(e.place),
            starts_at=e.slot.starts_at,
            ends_at=e.slot.ends_at,
            timezone=e.slot.timezone,
            capacity=e.capacity,
            budget=money(e.budget),
            responsible_employee_ids=e.responsible_employee_ids,
            scheduled_at=e.scheduled_at,
            version=version,
        )
    ]
    for task in e.tasks:
        facts.extend(_task_created(e, task))
    return facts


def event_rescheduled(
    e: MarketingEvent, r: Rescheduled, at: datetime, version: int
) -> list[c.CampaignsEvent]:
    facts: list[c.CampaignsEvent] = [
        c.EventRescheduled(
            event_id=e.event_id,
            title=e.title,
            place=place(e.place),
            previous_starts_at=r.previous.starts_at,
            previous_ends_at=r.previous.ends_at,
            starts_at=e.slot.starts_at,
            ends_at=e.slot.ends_at,
            timezone=e.slot.timezone,
            reason=r.reason,
            rescheduled_at=at,
            version=version,
        )
    ]
    facts.extend(
        c.TaskRescheduled(
            event_id=e.event_id,
            task_id=t.task_id,
            previous_due_on=previous,
            due_on=t.due_on,
            rescheduled_at=at,
        )
        for t, previous in r.moved_tasks
    )
    return facts


def event_cancelled(
    e: MarketingEvent, cancelled: Cancelled, at: datetime, version: int
) -> list[c.CampaignsEvent]:
    facts: list[c.CampaignsEvent] = [
        c.EventCancelled(
            event_id=e.event_id,
            title=e.title,
            starts_at=e.slot.starts_at,
            reason=cancelled.reason,
            cancelled_at=at,
            version=version,
        )
    ]
    facts.extend(
        c.TaskCancelled(
            event_id=e.event_id,
            task_id=t.task_id,
            title=t.title,
            assignee_id=t.assignee_id,
            reason="the event was cancelled",
            cancelled_at=at,
        )
        for t in cancelled.cancelled_tasks
    )
    return facts


def event_completed(e: MarketingEvent, at: datetime, version: int) -> c.EventCompleted:
    return c.EventCompleted(event_id=e.event_id, completed_at=at, version=version)


def task_completed(e: MarketingEvent, t: Task) -> c.TaskCompleted:
    assert t.completed_at is not None
    return c.TaskCompleted(
        event_id=e.event_id,
        task_id=t.task_id,
        completed_by=t.completed_by,
        completed_at=t.completed_at,
    )


def task_cancelled(e: MarketingEvent, t: Task, at: datetime) -> c.TaskCancelled:
    return c.TaskCancelled(
        event_id=e.event_id,
        task_id=t.task_id,
        title=t.title,
        assignee_id=t.assignee_id,
        cancelled_at=at,
    )


def recipient(p: Participant) -> Recipient:
    if p.kind == "employee":
        assert p.employee_id is not None
        return Recipient(kind=RecipientKind.EMPLOYEE, id=p.employee_id)
    assert p.person_id is not None
    return Recipient(kind=RecipientKind.PERSON, id=p.person_id, client_id=p.client_id)


def participant_part(p: Participant) -> ParticipantPart:
    return ParticipantPart(
        participant_id=p.participant_id,
        kind=RecipientKind(p.kind),
        person_id=p.person_id,
        client_id=p.client_id,
        employee_id=p.employee_id,
        role=ParticipantRole(p.role.value),
        status=StatusOut(p.status.value),
    )


def participants_added(
    event_id: str, ps: list[Participant], portrait: bool, at: datetime
) -> c.ParticipantsAdded:
    return c.ParticipantsAdded(
        event_id=event_id,
        participants=tuple(participant_part(p) for p in ps),
        selection=SelectionMode.PORTRAIT if portrait else SelectionMode.MANUAL,
        added_at=at,
    )


def participant_removed(p: Participant, at: datetime) -> c.ParticipantRemoved:
    return c.ParticipantRemoved(event_id=p.event_id, participant_id=p.participant_id, removed_at=at)


def invitation_requested(
    e: MarketingEvent,
    p: Participant,
    contact: dict[str, Any],
    *,
    token: str,
    url: str | None,
    at: datetime,
) -> c.InvitationRequested:
    channels = contact.get("channels") or {}
    preferred = contact.get("preferred_channel")
    hints = [ch for ch in Channel if channels.get(ch.value)]
    if preferred in channels:
        hints.sort(key=lambda ch: ch.value != preferred)
    language = contact.get("language")
    return c.InvitationRequested(
        event_id=e.event_id,
        participant_id=p.participant_id,
        recipient=recipient(p),
        role=ParticipantRole(p.role.value),
        language=Language(language) if language in {x.value for x in Language} else None,
        preferred_channel=Channel(preferred) if preferred else None,
        channel_hints=tuple(hints),
        event_title=e.title,
        event_kind=e.kind,
        event_topic=e.topic,
        place=place(e.place),
        starts_at=e.slot.starts_at,
        ends_at=e.slot.ends_at,
        timezone=e.slot.timezone,
        answer_token=token,
        answer_url=url,
        check_in_code=p.check_in_code,
        requested_at=at,
    )


def invitation_answered(p: Participant) -> c.InvitationAnswered:
    assert p.answer is not None
    assert p.answered_at is not None
    return c.InvitationAnswered(
        event_id=p.event_id,
        participant_id=p.participant_id,
        recipient=recipient(p),
        answer=InvitationAnswer(p.answer),
        answered_at=p.answered_at,
    )


def participant_promoted(p: Participant, at: datetime) -> c.ParticipantPromoted:
    return c.ParticipantPromoted(
        event_id=p.event_id, participant_id=p.participant_id, recipient=recipient(p), promoted_at=at
    )


def no_show_recorded(p: Participant) -> c.AttendanceRecorded:
    assert p.no_show_at is not None
    return c.AttendanceRecorded(
        event_id=p.event_id,
        participant_id=p.participant_id,
        recipient=recipient(p),
        attended=False,
        method=AttendanceMethod.EVENT_COMPLETED,
        recorded_at=p.no_show_at,
    )


def attendance_recorded(p: Participant, method: str, at: datetime) -> c.AttendanceRecorded:
    return c.AttendanceRecorded(
        event_id=p.event_id,
        participant_id=p.participant_id,
        recipient=recipient(p),
        attended=True,
        method=AttendanceMethod(method),
        recorded_at=at,
    )
