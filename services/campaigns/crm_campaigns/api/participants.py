"""Participants, invitation runs, attendance and effectiveness."""

from __future__ import annotations

from typing import Annotated, Any

from crm_kit.http import IdPath
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status

from crm_campaigns.api.common import Cursor, Limit, Reader, Writer
from crm_campaigns.api.planning import money_out
from crm_campaigns.domain.effectiveness import effectiveness
from crm_campaigns.domain.events import EventStatus
from crm_campaigns.domain.participants import Participant, ParticipantStatus
from crm_campaigns.handlers import invitations
from crm_campaigns.handlers import participants as handlers
from crm_campaigns.repository.participants import Counters, InvitationRuns, ParticipantRepository
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.schemas.common import MoneyOut
from crm_campaigns.schemas.participants import (
    AddedOut,
    AddParticipants,
    CheckIn,
    EffectivenessOut,
    InvitationRunOut,
    InviteBody,
    ParticipantOut,
    ParticipantPage,
    SelectByPortrait,
)

router = APIRouter(tags=["participants"])


def participant_out(p: Participant) -> ParticipantOut:
    return ParticipantOut(
        id=p.participant_id,
        kind=p.kind,
        person_id=p.person_id,
        client_id=p.client_id,
        employee_id=p.employee_id,
        name=p.name,
        role=p.role,
        status=p.status,
        check_in_code=p.check_in_code,
        invited_at=p.invited_at,
        delivered_at=p.delivered_at,
        failed_at=p.failed_at,
        answer=p.answer,
        attended_at=p.attended_at,
        no_show_at=p.no_show_at,
        version=p.version,
    )


def _added(result: handlers.Added, listed: int = 100) -> AddedOut:
    return AddedOut(
        added=len(result.added),
        waitlisted=result.waitlisted,
        already_listed=result.already_listed,
        items=[participant_out(p) for p in result.added[:listed]],
    )


@router.post(
    "/events/{event_id}/participants",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
    summary="Add people and employees by hand (ParticipantsAdded); past capacity, a waiting list",
)
async def add_participants(
    event_id: IdPath,
    body: AddParticipants,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
) -> AddedOut:
    added = _added(await handlers.add_participants(runtime, event_id, body))
    response.headers["Location"] = f"/events/{event_id}/participants"
    return added


@router.post(
    "/events/{event_id}/participants/by-portrait",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
    summary="Add the consenting people of clients matching the programme's portrait",
)
async def select_by_portrait(
    event_id: IdPath,
    body: SelectByPortrait,
    runtime: RuntimeDep,
    _: Writer,
    response: Response,
) -> AddedOut:
    added = _added(await handlers.select_by_portrait(runtime, event_id, body), listed=0)
    response.headers["Location"] = f"/events/{event_id}/participants"
    return added


@router.get(
    "/events/{event_id}/participants",
    responses=problem_responses(404, 422),
    summary="An event's participants, by status",
)
async def list_participants(
    event_id: IdPath,
    runtime: RuntimeDep,
    _: Reader,
    cursor: Cursor,
    participant_status: Annotated[ParticipantStatus | None, Query(alias="status")] = None,
    limit: Limit = 100,
) -> ParticipantPage:
    await EventRepository(runtime).get(event_id)
    page = await ParticipantRepository(runtime).page(
        event_id,
        status=participant_status.value if participant_status else None,
        cursor=cursor.position,
        limit=limit,
    )
    return ParticipantPage(
        items=[participant_out(p) for p in page.items], next_cursor=cursor.next(page.next_cursor)
    )


@router.get(
    "/events/{event_id}/participants/{participant_id}",
    responses=problem_responses(404),
    summary="One participant",
)
async def get_participant(
    event_id: IdPath, participant_id: IdPath, runtime: RuntimeDep, _: Reader
) -> ParticipantOut:
    return participant_out(await ParticipantRepository(runtime).get(event_id, participant_id))


@router.delete(
    "/events/{event_id}/participants/{participant_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404),
    summary="Remove a participant (ParticipantRemoved); they can be added again",
)
async def remove_participant(
    event_id: IdPath, participant_id: IdPath, runtime: RuntimeDep, _: Writer
) -> Response:
    await handlers.remove_participant(runtime, event_id, participant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def run_out(run: dict[str, Any]) -> InvitationRunOut:
    return InvitationRunOut(
        id=run["_id"],
        event_id=run["event_id"],
        state=run["state"],
        statuses=run["statuses"],
        total=run["total"],
        processed=run["processed"],
        invited=run["invited"],
        created_at=run["created_at"],
        finished_at=run.get("finished_at"),
        correlation_id=run.get("correlation_id"),
    )


@router.post(
    "/events/{event_id}/invitations",
    status_code=status.HTTP_202_ACCEPTED,
    responses=problem_responses(404, 409, 422),
    summary="Invite every participant not yet invited (or those whose delivery failed); "
    "the run works in the background, follow its Location",
)
async def start_invitations(
    event_id: IdPath, body: InviteBody, runtime: RuntimeDep, _: Writer, response: Response
) -> InvitationRunOut:
    run = await invitations.start_invitations(runtime, event_id, body.statuses)
    response.headers["Location"] = f"/events/{event_id}/invitations/{run['_id']}"
    return run_out(run)


@router.get(
    "/events/{event_id}/invitations/{run_id}",
    responses=problem_responses(404),
    summary="The progress of an invitation run",
)
async def invitation_run(
    event_id: IdPath, run_id: IdPath, runtime: RuntimeDep, _: Reader
) -> InvitationRunOut:
    run = await InvitationRuns(runtime).get(event_id, run_id)
    if run is None:
        raise NotFound(f"event {event_id} has no invitation run {run_id}")
    return run_out(run)


@router.post(
    "/events/{event_id}/attendance",
    responses=problem_responses(404, 409, 422),
    summary="Check a participant in, by id or by the code in their invitation "
    "(AttendanceRecorded); checking in twice changes nothing",
)
async def check_in(
    event_id: IdPath, body: CheckIn, runtime: RuntimeDep, _: Writer
) -> ParticipantOut:
    return participant_out(await handlers.check_in(runtime, event_id, body))


@router.get(
    "/events/{event_id}/effectiveness",
    responses=problem_responses(404),
    summary="The event's effectiveness, from counters kept up to date as facts arrive",
)
async def get_effectiveness(event_id: IdPath, runtime: RuntimeDep, _: Reader) -> EffectivenessOut:
    event = await EventRepository(runtime).get(event_id)
    counters = await Counters(runtime).get(event_id)
    e = effectiveness(
        counters, event.estimate_totals(), completed=event.status == EventStatus.COMPLETED
    )
    actual = money_out(e.actual_cost)
    assert actual is not None
    return EffectivenessOut(
        event_id=event_id,
        status=event.status.value,
        planned=e.planned,
        invited=e.invited,
        delivered=e.delivered,
        failed=e.failed,
        accepted=e.accepted,
        declined=e.declined,
        attended=e.attended,
        no_show=e.no_show,
        participation_ratio=e.participation_ratio,
        questionnaire_responses=e.questionnaire_responses,
        questionnaire_response_rate=e.questionnaire_response_rate,
        new_potential_clients=e.new_potential_clients,
        contact_records=e.contact_records,
        actual_cost=MoneyOut.model_validate(actual),
        cost_per_attendee=money_out(e.cost_per_attendee),
        cost_per_new_potential_client=money_out(e.cost_per_new_potential_client),
        budget=money_out(e.budget),
        budget_variance=money_out(e.budget_variance),
    )
