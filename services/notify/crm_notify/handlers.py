"""Use cases: keep the projections, turn requests into notifications, ad-hoc sends.

A consumed request makes one notification per recipient whose id is derived from (source
event, recipient, kind), so a redelivered event finds its notification already there. The
sending itself is the delivery worker's (``worker.py``).
"""

from __future__ import annotations

import uuid
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
from crm_contracts.common import ChannelAddresses, Place
from crm_contracts.contacts import (
    ConsentChanged,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.envelope import Envelope
from crm_contracts.proposals import PlanStepAssigned
from crm_contracts.values import Channel, NotificationKind, RecipientKind
from crm_kit.clock import utc_now
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_notify import repository as repo
from crm_notify.domain import (
    KIND_VARIABLES,
    IdempotencyKeyReused,
    notification_id,
    request_fingerprint,
)
from crm_notify.settings import NotifySettings

K = NotificationKind


def settings_of(rt: Runtime) -> NotifySettings:
    settings = rt.settings
    assert isinstance(settings, NotifySettings)
    return settings


def _local(at: datetime, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _place(place: Place) -> str:
    parts = [p for p in (place.venue, place.address, place.online_url) if p]
    return ", ".join(parts) or "—"


def _variables(kind: NotificationKind, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every variable the kind declares, so strict rendering never meets a missing one."""
    declared = KIND_VARIABLES[kind] - {"recipient_name"}
    return {name: values.get(name) for name in sorted(declared)}


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
        "variables": _variables(kind, variables),
        "event_id": None,
        "participant_id": None,
        "language_hint": None,
        "preferred_hint": None,
        "channel_hints": [],
        "calendar": None,
    }
    doc.update(extra)
    return repo.new_notification(doc, now)


# --- projection of people and employees ----------------------------------------------------


def _channels(channels: ChannelAddresses) -> dict[str, str | None]:
    return {c.value: channels.address(c) for c in Channel}


async def on_person(rt: Runtime, event: PersonAdded | PersonUpdated, _: Envelope) -> None:
    key = repo.recipient_key(RecipientKind.PERSON, event.person_id)
    state = {
        "kind": RecipientKind.PERSON.value,
        "client_id": event.client_id,
        "name": event.name,
        "language": event.language.value,
        "channels": _channels(event.channels),
        "preferred": event.preferred_channel.value if event.preferred_channel else None,
        "active": True,
    }
    await repo.upsert_recipient_state(rt.db, key, state, event.version)
    if isinstance(event, PersonAdded):
        await repo.set_consents(rt.db, key, {c.channel: (c.granted, c.at) for c in event.consents})


async def on_consent(rt: Runtime, event: ConsentChanged, _: Envelope) -> None:
    key = repo.recipient_key(RecipientKind.PERSON, event.person_id)
    await repo.set_consent(rt.db, key, event.channel, event.granted, event.at)


async def on_employee(
    rt: Runtime, event: EmployeeRegistered | EmployeeUpdated, _: Envelope
) -> None:
    key = repo.recipient_key(RecipientKind.EMPLOYEE, event.employee_id)
    state = {
        "kind": RecipientKind.EMPLOYEE.value,
        "client_id": None,
        "name": event.name,
        "language": event.language.value,
        "channels": _channels(event.channels),
        "preferred": event.preferred_channel.value if event.preferred_channel else None,
        "active": event.active,
    }
    await repo.upsert_recipient_state(rt.db, key, state, event.version)


# --- requests ------------------------------------------------------------------------------


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
    await repo.insert_notifications(rt.db, docs)


async def on_invitation_requested(
    rt: Runtime, event: InvitationRequested, envelope: Envelope
) -> None:
    # The fallback for one event: the consumer calls ``on_invitations_requested`` with a run of
    # consecutive invitations, and this one by one when that call failed (so a bad one is
    # dead-lettered alone) or when the run is a single event.
    await on_invitations_requested(rt, [(event, envelope)])


async def on_task_assigned(rt: Runtime, event: TaskAssigned, envelope: Envelope) -> None:
    await repo.remember_task(
        rt.db, event.event_id, event.task_id, event.event_title, event.assignee_id
    )
    variables = {
        "event_title": event.event_title,
        "task_title": event.title,
        "category": event.category.value,
        "due_on": event.due_on.isoformat(),
    }
    doc = _notification(
        envelope,
        K.TASK_ASSIGNED,
        _recipient(RecipientKind.EMPLOYEE, event.assignee_id),
        variables,
        utc_now(),
        event_id=event.event_id,
    )
    await repo.insert_notifications(rt.db, [doc])


async def on_task_completed(rt: Runtime, event: TaskCompleted, _: Envelope) -> None:
    await repo.close_task(rt.db, event.task_id)


async def on_task_cancelled(rt: Runtime, event: TaskCancelled, envelope: Envelope) -> None:
    task = await repo.close_task(rt.db, event.task_id)
    if event.assignee_id is None:
        return
    variables = {
        "event_title": (task or {}).get("event_title") or "—",
        "task_title": event.title,
        "reason": event.reason,
    }
    doc = _notification(
        envelope,
        K.TASK_CANCELLED,
        _recipient(RecipientKind.EMPLOYEE, event.assignee_id),
        variables,
        utc_now(),
        event_id=event.event_id,
    )
    await repo.insert_notifications(rt.db, [doc])


async def on_plan_step_assigned(rt: Runtime, event: PlanStepAssigned, envelope: Envelope) -> None:
    variables = {
        "step_title": event.title,
        "proposal_title": event.proposal_title,
        "client_name": event.client_name,
        "due_on": event.due_on.isoformat() if event.due_on else None,
        "approval": event.approval,
    }
    doc = _notification(
        envelope,
        K.PLAN_STEP_ASSIGNED,
        _recipient(RecipientKind.EMPLOYEE, event.assignee_id),
        variables,
        utc_now(),
    )
    await repo.insert_notifications(rt.db, [doc])


async def on_curator_assigned(rt: Runtime, event: CuratorAssigned, envelope: Envelope) -> None:
    doc = _notification(
        envelope,
        K.CURATOR_ASSIGNED,
        _recipient(RecipientKind.EMPLOYEE, event.curator_id),
        {"client_name": event.client_name},
        utc_now(),
    )
    await repo.insert_notifications(rt.db, [doc])


async def _tell_audience(
    rt: Runtime,
    envelope: Envelope,
    event_id: str,
    kind: NotificationKind,
    variables: Mapping[str, Any],
    calendar: Mapping[str, Any],
) -> None:
    now = utc_now()
    audience = await repo.event_audience(rt.db, event_id)
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
    await repo.insert_notifications(rt.db, batch)


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


# --- ad-hoc sends --------------------------------------------------------------------------


async def send_ad_hoc(
    rt: Runtime,
    *,
    caller: str,
    recipient: Document,
    channel: Channel | None,
    subject: str,
    body: str,
    language: str | None,
    idempotency_key: str | None,
) -> tuple[Document, bool]:
    """Queue an ad-hoc message; returns the notification and whether it is new.

    With an ``Idempotency-Key`` the notification id is derived from the caller and the key, so
    a repeated request finds the first one; the same key with a different request is refused.
    """
    fingerprint = request_fingerprint(
        [recipient["kind"], recipient["id"], str(channel), subject, body, str(language)]
    )
    if idempotency_key is not None:
        source_id = f"adhoc:{caller}:{idempotency_key}"
        nid = str(uuid.uuid5(uuid.NAMESPACE_URL, source_id))
    else:
        nid = str(uuid.uuid4())
        source_id = f"adhoc:{nid}"
    existing = await repo.find_notification(rt.db, nid)
    if existing is None:
        doc = repo.new_notification(
            {
                "_id": nid,
                "kind": K.AD_HOC.value,
                "recipient": recipient,
                "source": {"event_id": source_id, "event_type": "AdHocSend"},
                "variables": _variables(K.AD_HOC, {"subject": subject, "body": body}),
                "event_id": None,
                "participant_id": None,
                "language_hint": language,
                "preferred_hint": channel.value if channel else None,
                "channel_hints": [],
                "address_channel": channel.value if channel else None,
                "calendar": None,
                "fingerprint": fingerprint,
                "requested_by": caller,
            },
            utc_now(),
        )
        if await repo.insert_notifications(rt.db, [doc]) == 1:
            return doc, True
        existing = await repo.find_notification(rt.db, nid)
        assert existing is not None
    if existing.get("fingerprint") != fingerprint:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key {idempotency_key!r} was used for a different request"
        )
    return existing, False
