"""Requests from other services' facts, each turned into one notification per recipient:
invitations, task and plan-step assignments, curator assignments, an event's move or
cancellation told to its audience."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from crm_contracts.campaigns import (
    EventCancelled,
    EventRescheduled,
    InvitationRequested,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
)
from crm_contracts.common import Place
from crm_contracts.contacts import CuratorAssigned
from crm_contracts.envelope import Envelope
from crm_contracts.proposals import PlanStepAssigned
from crm_contracts.values import NotificationKind, RecipientKind
from crm_kit.clock import utc_now
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_notify.domain import notification_id
from crm_notify.handlers import declared_variables, settings_of
from crm_notify.repository.audience import close_task, event_audience, remember_task
from crm_notify.repository.notifications import insert_notifications, new_notification
from crm_notify.settings import NotifySettings

K = NotificationKind


def _local(at: datetime, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _place(place: Place) -> str:
    parts = [p for p in (place.venue, place.address, place.online_url) if p]
    return ", ".join(parts) or "—"


def _recipient(kind: RecipientKind, rid: str, client_id: str | None = None) -> Document:
    return {"kind": kind.value, "id": rid, "client_id": client_id}


def _notification(
    envelope: Envelope,
    kind: NotificationKind,
    recipient: Document,
    variables: Mapping[str, Any],
    now: datetime,
    **extra: Any,
) -> Document:
    source_id = str(envelope.event_id)
    doc: Document = {
        "_id": notification_id(source_id, recipient["kind"], recipient["id"], kind.value),
        "kind": kind.value,
        "recipient": recipient,
        "source": {"event_id": source_id, "event_type": envelope.event_type},
        # Taken from the envelope, not the context: a batch handler stores the notifications
        # of several requests at once.
        "correlation_id": envelope.correlation_id,
        "variables": declared_variables(kind, variables),
        "event_id": None,
        "participant_id": None,
        "language_hint": None,
        "preferred_hint": None,
        "channel_hints": [],
        "calendar": None,
    }
    doc.update(extra)
    return new_notification(doc, now)


def invitation_notification(
    settings: NotifySettings, event: InvitationRequested, envelope: Envelope, now: datetime
) -> Document:
    """The notification an ``InvitationRequested`` asks for (built in memory, not stored)."""
    recipient = event.recipient.model_dump(mode="json")
    base = settings.answer_base_url.rstrip("/")
    answer_url = event.answer_url or f"{base}/i/{event.answer_token}"
    variables = {
        "event_title": event.event_title,
        "event_kind": event.event_kind,
        "event_topic": event.event_topic,
        "place": _place(event.place),
        "starts_at": _local(event.starts_at, event.timezone),
        "ends_at": _local(event.ends_at, event.timezone),
        "timezone": event.timezone,
        "answer_url": answer_url,
        "check_in_code": event.check_in_code,
        "role": event.role.value,
    }
    calendar = {
        "method": "REQUEST",
        "uid": f"{event.event_id}.{event.participant_id}@crm",
        "sequence": 0,
        "title": event.event_title,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "location": _place(event.place),
        "url": answer_url,
    }
    return _notification(
        envelope,
        K.INVITATION,
        recipient,
        variables,
        now,
        event_id=event.event_id,
        participant_id=event.participant_id,
        language_hint=event.language.value if event.language else None,
        preferred_hint=event.preferred_channel.value if event.preferred_channel else None,
        channel_hints=[c.value for c in event.channel_hints],
        calendar=calendar,
    )


async def on_invitations_requested(
    rt: Runtime, items: Sequence[tuple[InvitationRequested, Envelope]]
) -> None:
    """Store the notifications of several ``InvitationRequested`` together: one unordered
    insert, nothing read back; an invitation already stored (a redelivered event) is left as it
    is."""
    settings, now = settings_of(rt), utc_now()
    docs = [invitation_notification(settings, event, envelope, now) for event, envelope in items]
    await insert_notifications(rt.db, docs)


async def on_invitation_requested(
    rt: Runtime, event: InvitationRequested, envelope: Envelope
) -> None:
    # The fallback for one event: the consumer calls ``on_invitations_requested`` with a run of
    # consecutive invitations, and this one by one when that call failed (so a bad one is
    # dead-lettered alone) or when the run is a single event.
    await on_invitations_requested(rt, [(event, envelope)])


async def _tell_employee(
    rt: Runtime,
    envelope: Envelope,
    kind: NotificationKind,
    employee_id: str,
    variables: Mapping[str, Any],
    *,
    event_id: str | None = None,
) -> None:
    """Queue one staff message about ``envelope``'s fact to the employee."""
    doc = _notification(
        envelope,
        kind,
        _recipient(RecipientKind.EMPLOYEE, employee_id),
        variables,
        utc_now(),
        event_id=event_id,
    )
    await insert_notifications(rt.db, [doc])


async def on_task_assigned(rt: Runtime, event: TaskAssigned, envelope: Envelope) -> None:
    await remember_task(rt.db, event.event_id, event.task_id, event.event_title, event.assignee_id)
    variables = {
        "event_title": event.event_title,
        "task_title": event.title,
        "category": event.category.value,
        "due_on": event.due_on.isoformat(),
    }
    await _tell_employee(
        rt, envelope, K.TASK_ASSIGNED, event.assignee_id, variables, event_id=event.event_id
    )


async def on_task_completed(rt: Runtime, event: TaskCompleted, _: Envelope) -> None:
    await close_task(rt.db, event.task_id)


async def on_task_cancelled(rt: Runtime, event: TaskCancelled, envelope: Envelope) -> None:
    task = await close_task(rt.db, event.task_id)
    if event.assignee_id is None:
        return
    variables = {
        "event_title": (task or {}).get("event_title") or "—",
        "task_title": event.title,
        "reason": event.reason,
    }
    await _tell_employee(
        rt, envelope, K.TASK_CANCELLED, event.assignee_id, variables, event_id=event.event_id
    )


async def on_plan_step_assigned(rt: Runtime, event: PlanStepAssigned, envelope: Envelope) -> None:
    variables = {
        "step_title": event.title,
        "proposal_title": event.proposal_title,
        "client_name": event.client_name,
        "due_on": event.due_on.isoformat() if event.due_on else None,
        "approval": event.approval,
    }
    await _tell_employee(rt, envelope, K.PLAN_STEP_ASSIGNED, event.assignee_id, variables)


async def on_curator_assigned(rt: Runtime, event: CuratorAssigned, envelope: Envelope) -> None:
    await _tell_employee(
        rt, envelope, K.CURATOR_ASSIGNED, event.curator_id, {"client_name": event.client_name}
    )


async def _tell_audience(
    rt: Runtime,
    envelope: Envelope,
    event_id: str,
    kind: NotificationKind,
    variables: Mapping[str, Any],
    calendar: Mapping[str, Any],
) -> None:
    now = utc_now()
    audience = await event_audience(rt.db, event_id)
    batch: list[Document] = []
    for recipient in audience:
        uid = f"{event_id}.{recipient['id']}@crm"
        batch.append(
            _notification(
                envelope,
                kind,
                recipient,
                variables,
                now,
                event_id=event_id,
                calendar={**calendar, "uid": uid},
            )
        )
    await insert_notifications(rt.db, batch)


async def on_event_rescheduled(rt: Runtime, event: EventRescheduled, envelope: Envelope) -> None:
    variables = {
        "event_title": event.title,
        "place": _place(event.place),
        "previous_starts_at": _local(event.previous_starts_at, event.timezone),
        "starts_at": _local(event.starts_at, event.timezone),
        "ends_at": _local(event.ends_at, event.timezone),
        "timezone": event.timezone,
        "reason": event.reason,
    }
    calendar = {
        "method": "REQUEST",
        "sequence": event.version,
        "title": event.title,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "location": _place(event.place),
        "url": None,
    }
    await _tell_audience(rt, envelope, event.event_id, K.EVENT_RESCHEDULED, variables, calendar)


async def on_event_cancelled(rt: Runtime, event: EventCancelled, envelope: Envelope) -> None:
    variables = {
        "event_title": event.title,
        "starts_at": _local(event.starts_at, "UTC") + " UTC",
        "reason": event.reason,
    }
    calendar = {
        "method": "CANCEL",
        "sequence": event.version,
        "title": event.title,
        "starts_at": event.starts_at,
        "ends_at": event.starts_at,
        "location": "",
        "url": None,
    }
    await _tell_audience(rt, envelope, event.event_id, K.EVENT_CANCELLED, variables, calendar)
