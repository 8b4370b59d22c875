"""Examples of the campaigns service's events."""

from __future__ import annotations

from datetime import date

from crm_contracts import campaigns as cm
from crm_contracts.base import ContractEvent
from crm_contracts.campaign_parts import Answer, Participant, Portrait, Respondent
from crm_contracts.examples._shared import (
    AT,
    CHANNELS,
    CLIENT,
    EMPLOYEE,
    END,
    EVENT,
    GUEST,
    PERSON,
    PLACE,
    START,
    rub,
)
from crm_contracts.values import (
    AttendanceMethod,
    Channel,
    ClientStatus,
    Department,
    InvitationAnswer,
    Language,
    NeedsSource,
    ParticipantRole,
    QuestionKind,
    RecipientKind,
    ResponseChannel,
    SelectionMode,
    TaskCategory,
)

ANSWER_TOKEN = "eyJwIjoicHJ0LTEifQ.sig"  # noqa: S105 - an example, not a secret


def campaigns_examples() -> list[ContractEvent]:
    respondent = Respondent(name="Anna Volkova", organisation="AO Tehmash", channels=CHANNELS)
    answer = Answer(
        question_id="q1",
        question="Which services interest you?",
        kind=QuestionKind.PRODUCT_INTEREST,
        item_codes=("SRV-INSTALL",),
    )
    return [
        cm.ProgrammeDefined(
            programme_id="prg-1",
            name="Builders 2026",
            portrait=Portrait(statuses=(ClientStatus.POTENTIAL,), tags=("construction",)),
            promoted_item_codes=("SRV-INSTALL",),
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 6, 30),
            budget=rub(300_000_000),
            defined_at=AT,
            version=1,
        ),
        cm.EventScheduled(
            event_id=EVENT,
            kind="exhibition",
            title="BuildExpo 2026",
            place=PLACE,
            starts_at=START,
            ends_at=END,
            timezone="Europe/Moscow",
            capacity=200,
            responsible_employee_ids=(EMPLOYEE,),
            scheduled_at=AT,
            version=1,
        ),
        cm.EventRescheduled(
            event_id=EVENT,
            title="BuildExpo 2026",
            place=PLACE,
            previous_starts_at=START,
            previous_ends_at=END,
            starts_at=START.replace(day=21),
            ends_at=END.replace(day=21),
            timezone="Europe/Moscow",
            rescheduled_at=AT,
            version=2,
        ),
        cm.EventCancelled(
            event_id=EVENT, title="BuildExpo 2026", starts_at=START, cancelled_at=AT, version=3
        ),
        cm.EventCompleted(event_id=EVENT, completed_at=END, version=3),
        cm.PreparationTaskCreated(
            event_id=EVENT,
            task_id="tsk-1",
            title="Book the venue",
            category=TaskCategory.VENUE,
            due_on=date(2026, 3, 14),
            department=Department.MARKETING,
            created_at=AT,
        ),
        cm.TaskAssigned(
            event_id=EVENT,
            task_id="tsk-1",
            event_title="BuildExpo 2026",
            title="Book the venue",
            category=TaskCategory.VENUE,
            due_on=date(2026, 3, 14),
            assignee_id=EMPLOYEE,
            assigned_at=AT,
        ),
        cm.TaskRescheduled(
            event_id=EVENT,
            task_id="tsk-1",
            previous_due_on=date(2026, 3, 14),
            due_on=date(2026, 3, 21),
            rescheduled_at=AT,
        ),
        cm.TaskCompleted(event_id=EVENT, task_id="tsk-1", completed_at=AT),
        cm.TaskCancelled(event_id=EVENT, task_id="tsk-2", title="Press ad", cancelled_at=AT),
        cm.ParticipantsAdded(
            event_id=EVENT,
            participants=(
                Participant(
                    participant_id="prt-1",
                    kind=RecipientKind.PERSON,
                    person_id=PERSON,
                    client_id=CLIENT,
                    role=ParticipantRole.GUEST,
                ),
            ),
            selection=SelectionMode.PORTRAIT,
            added_at=AT,
        ),
        cm.ParticipantRemoved(event_id=EVENT, participant_id="prt-9", removed_at=AT),
        cm.ParticipantPromoted(
            event_id=EVENT, participant_id="prt-3", recipient=GUEST, promoted_at=AT
        ),
        cm.InvitationRequested(
            event_id=EVENT,
            participant_id="prt-1",
            recipient=GUEST,
            role=ParticipantRole.GUEST,
            language=Language.RU,
            preferred_channel=Channel.EMAIL,
            channel_hints=(Channel.EMAIL, Channel.MOBILE),
            event_title="BuildExpo 2026",
            event_kind="exhibition",
            place=PLACE,
            starts_at=START,
            ends_at=END,
            timezone="Europe/Moscow",
            answer_token=ANSWER_TOKEN,
            answer_url=f"https://crm.example/i/{ANSWER_TOKEN}",
            requested_at=AT,
        ),
        cm.InvitationAnswered(
            event_id=EVENT,
            participant_id="prt-1",
            recipient=GUEST,
            answer=InvitationAnswer.ACCEPTED,
            answered_at=AT,
        ),
        cm.AttendanceRecorded(
            event_id=EVENT,
            participant_id="prt-1",
            recipient=GUEST,
            attended=True,
            method=AttendanceMethod.CHECK_IN,
            recorded_at=START,
        ),
        cm.AttendanceRecorded(
            event_id=EVENT,
            participant_id="prt-2",
            recipient=GUEST,
            attended=False,
            method=AttendanceMethod.EVENT_COMPLETED,
            recorded_at=END,
        ),
        cm.QuestionnaireSubmitted(
            event_id=EVENT,
            response_id="rsp-1",
            respondent=respondent,
            answers=(answer,),
            product_interest_codes=("SRV-INSTALL",),
            channel=ResponseChannel.PAPER,
            submitted_at=END,
        ),
        cm.NeedsIdentified(
            event_id=EVENT,
            source=NeedsSource.QUESTIONNAIRE,
            source_id="rsp-1",
            item_codes=("SRV-INSTALL",),
            identified_at=END,
        ),
    ]
