"""Facts published by the campaigns service on ``crm.campaigns.v1``.

Facts about a marketing event (its schedule, tasks, participants, invitations, answers,
attendance, questionnaires) are keyed by the event id so they stay in order; programme facts
by the programme id. ``event_id`` in a payload always means the marketing event, never the
envelope's message id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent
from crm_contracts.campaign_parts import Answer, Participant, Portrait, Respondent
from crm_contracts.common import Place, Recipient
from crm_contracts.money import Money
from crm_contracts.topics import CAMPAIGNS
from crm_contracts.values import (
    AttendanceMethod,
    Channel,
    Department,
    Id,
    InvitationAnswer,
    Language,
    NeedsSource,
    ParticipantRole,
    ResponseChannel,
    SelectionMode,
    TaskCategory,
    UtcDatetime,
)


class CampaignsEvent(ContractEvent):
    """Base of the campaigns service's events."""

    topic: ClassVar[str] = CAMPAIGNS


class _EventFact(CampaignsEvent):
    event_id: Id
    """The marketing event."""

    def aggregate_key(self) -> str:
        return self.event_id


class ProgrammeDefined(CampaignsEvent):
    """A promotion programme was defined or redefined (a higher ``version`` replaces the older).

    Consumed by campaigns' own analytics and contacts' timeline (client source).
    """

    event_type: ClassVar[str] = "ProgrammeDefined"
    programme_id: Id
    name: str
    portrait: Portrait
    promoted_item_codes: tuple[str, ...] = ()
    """Catalogue codes of the promoted goods and services."""
    starts_on: date
    ends_on: date
    budget: Money | None = None
    defined_at: UtcDatetime
    version: int = Field(ge=1)

    def aggregate_key(self) -> str:
        return self.programme_id


class EventScheduled(_EventFact):
    """A marketing event was put on the plan-schedule.

    Consumed by notify (event details for messages) and contacts' timeline.
    """

    event_type: ClassVar[str] = "EventScheduled"
    programme_id: Id | None = None
    kind: str
    """Exhibition, seminar, conference, presentation, webinar, reception... (configurable)."""
    title: str
    topic_text: str | None = None
    """What the event is about (named so as not to clash with the Kafka topic)."""
    place: Place
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    timezone: str
    """IANA time zone the event is held in, e.g. ``Europe/Moscow``, for local-time rendering."""
    capacity: int | None = Field(default=None, ge=0)
    budget: Money | None = None
    responsible_employee_ids: tuple[Id, ...] = ()
    scheduled_at: UtcDatetime
    version: int = Field(ge=1)


class EventRescheduled(_EventFact):
    """A marketing event moved to new dates (and possibly a new place).

    Consumed by notify (tell the invited participants and the assignees of open tasks).
    """

    event_type: ClassVar[str] = "EventRescheduled"
    title: str
    place: Place
    previous_starts_at: UtcDatetime
    previous_ends_at: UtcDatetime
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    timezone: str
    reason: str | None = None
    rescheduled_at: UtcDatetime
    version: int = Field(ge=1)


class EventCancelled(_EventFact):
    """A marketing event was cancelled; its open tasks are cancelled with it.

    Consumed by notify (tell the invited participants and the assignees) and contacts' timeline.
    """

    event_type: ClassVar[str] = "EventCancelled"
    title: str
    starts_at: UtcDatetime
    reason: str | None = None
    cancelled_at: UtcDatetime
    version: int = Field(ge=1)


class EventCompleted(_EventFact):
    """A marketing event took place and was closed; its effectiveness figures are final.

    Consumed by contacts' timeline and management reporting.
    """

    event_type: ClassVar[str] = "EventCompleted"
    completed_at: UtcDatetime
    version: int = Field(ge=1)


class PreparationTaskCreated(_EventFact):
    """A preparation task was created for an event, usually from the kind's template."""

    event_type: ClassVar[str] = "PreparationTaskCreated"
    task_id: Id
    title: str
    category: TaskCategory
    due_on: date
    department: Department | None = None
    role: str | None = None
    assignee_id: Id | None = None
    """The employee expected to do it; ``TaskAssigned`` follows when set."""
    template_item_id: Id | None = None
    created_at: UtcDatetime


class TaskAssigned(_EventFact):
    """A preparation task was given to an employee.

    Consumed by notify, which tells the assignee (title, due date and event are here).
    """

    event_type: ClassVar[str] = "TaskAssigned"
    task_id: Id
    event_title: str
    title: str
    category: TaskCategory
    due_on: date
    assignee_id: Id
    """The employee id of the assignee."""
    previous_assignee_id: Id | None = None
    assigned_at: UtcDatetime


class TaskRescheduled(_EventFact):
    """An open task's due date moved, usually because its event was rescheduled."""

    event_type: ClassVar[str] = "TaskRescheduled"
    task_id: Id
    previous_due_on: date
    due_on: date
    rescheduled_at: UtcDatetime


class TaskCompleted(_EventFact):
    """A preparation task was done."""

    event_type: ClassVar[str] = "TaskCompleted"
    task_id: Id
    completed_by: Id | None = None
    completed_at: UtcDatetime


class TaskCancelled(_EventFact):
    """An open task was cancelled (usually with its event). Consumed by notify (tell assignee)."""

    event_type: ClassVar[str] = "TaskCancelled"
    task_id: Id
    title: str
    assignee_id: Id | None = None
    reason: str | None = None
    cancelled_at: UtcDatetime


class ParticipantsAdded(_EventFact):
    """People were added to an event's participants, by hand or by the programme's portrait.

    Published in batches of bounded size. Consumed by contacts' timeline.
    """

    event_type: ClassVar[str] = "ParticipantsAdded"
    participants: tuple[Participant, ...]
    selection: SelectionMode
    added_at: UtcDatetime


class ParticipantRemoved(_EventFact):
    """A participant was removed from an event (they may be added again later)."""

    event_type: ClassVar[str] = "ParticipantRemoved"
    participant_id: Id
    removed_at: UtcDatetime


class ParticipantPromoted(_EventFact):
    """A participant moved off the waiting list onto the list proper, into a freed seat (or
    because the event's capacity grew or was lifted). They are now planned, and the next
    invitation run invites them."""

    event_type: ClassVar[str] = "ParticipantPromoted"
    participant_id: Id
    recipient: Recipient
    promoted_at: UtcDatetime


class InvitationRequested(_EventFact):
    """Campaigns asks for one participant to be invited (or, for staff, notified).

    Consumed by notify, which delivers it without another lookup: the event's details, the
    recipient's hints and the signed answer link are all here.
    """

    event_type: ClassVar[str] = "InvitationRequested"
    participant_id: Id
    recipient: Recipient
    role: ParticipantRole
    language: Language | None = None
    """The recipient's language if campaigns knows it; notify's projection decides otherwise."""
    preferred_channel: Channel | None = None
    channel_hints: tuple[Channel, ...] = ()
    """Channels to try in order; consent is still checked by notify at send time."""
    event_title: str
    event_kind: str
    event_topic: str | None = None
    place: Place
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    timezone: str
    answer_token: str
    """The signed token of the public answer page ``/i/{token}``."""
    answer_url: str | None = None
    """The full link to the answer page, when campaigns knows its public base URL."""
    check_in_code: str | None = None
    """The participant's check-in code (for a QR code in the invitation)."""
    requested_at: UtcDatetime


class InvitationAnswered(_EventFact):
    """A participant accepted or declined an invitation. Consumed by contacts' timeline."""

    event_type: ClassVar[str] = "InvitationAnswered"
    participant_id: Id
    recipient: Recipient
    answer: InvitationAnswer
    comment: str | None = None
    answered_at: UtcDatetime


class AttendanceRecorded(_EventFact):
    """A participant attended an event, or was recorded as a no-show.

    A no-show (``attended`` false, method ``event_completed``) is recorded once the event is
    completed, for each participant who accepted and was not seen there.

    Consumed by contacts' timeline.
    """

    event_type: ClassVar[str] = "AttendanceRecorded"
    participant_id: Id
    recipient: Recipient
    attended: bool
    method: AttendanceMethod
    recorded_at: UtcDatetime


class QuestionnaireSubmitted(_EventFact):
    """A questionnaire response was submitted electronically or keyed in from paper.

    Consumed by contacts: an unknown respondent becomes a potential client and person (once),
    a known one gets a contact record.

    Schema version 2: the respondent's details and the answers' free text travel sealed under
    the person's key, or the response's while the respondent is unknown
    (``crm_contracts.personal``).
    """

    event_type: ClassVar[str] = "QuestionnaireSubmitted"
    schema_version: ClassVar[int] = 2
    response_id: Id
    questionnaire_id: Id | None = None
    participant_id: Id | None = None
    """``None`` for an answer through the anonymous per-event link."""
    respondent: Respondent
    answers: tuple[Answer, ...] = ()
    product_interest_codes: tuple[str, ...] = ()
    channel: ResponseChannel
    submitted_at: UtcDatetime


class NeedsIdentified(_EventFact):
    """Needs for goods and services were identified at an event (questionnaire or contact).

    Feeds the market-needs report; consumed by contacts' timeline and proposals.
    """

    event_type: ClassVar[str] = "NeedsIdentified"
    client_id: Id | None = None
    person_id: Id | None = None
    programme_id: Id | None = None
    source: NeedsSource
    source_id: Id
    """The questionnaire response id or the contact record id."""
    item_codes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    identified_at: UtcDatetime
