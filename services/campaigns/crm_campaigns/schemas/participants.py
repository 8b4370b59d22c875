"""Participants, invitation runs, attendance and effectiveness over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from crm_kit.fields import Id
from pydantic import BaseModel, Field

from crm_campaigns.domain.participants import ParticipantStatus, Role
from crm_campaigns.schemas.common import MoneyOut, Strict


class PersonRef(Strict):
    person_id: Id
    role: Role | None = None
    """Default: partner or dealer for a partner's or dealer's people, guest otherwise."""


class EmployeeRef(Strict):
    employee_id: Id
    role: Role = Role.STAFF


class AddParticipants(Strict):
    people: list[PersonRef] = Field(default=[], max_length=1000)
    employees: list[EmployeeRef] = Field(default=[], max_length=1000)
    waitlist: bool = True
    """Past capacity, put the rest on the waiting list (true) or refuse the whole request."""


class SelectByPortrait(Strict):
    role: Role = Role.GUEST
    waitlist: bool = True


class ParticipantOut(BaseModel):
    id: str
    kind: str
    person_id: str | None
    client_id: str | None
    employee_id: str | None
    name: str | None
    role: Role
    status: ParticipantStatus
    check_in_code: str | None
    invited_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    answer: str | None
    attended_at: datetime | None
    no_show_at: datetime | None = None
    """Marked when the event was completed: accepted, but not seen there."""
    version: int


class AddedOut(BaseModel):
    added: int
    waitlisted: int
    already_listed: int
    items: list[ParticipantOut]


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None


class InviteBody(Strict):
    statuses: list[Literal["planned", "failed"]] = Field(default=["planned"], max_length=2)
    """Invite participants in these statuses: not yet invited, or whose delivery failed."""


class InvitationRunOut(BaseModel):
    id: str
    event_id: str
    state: Literal["queued", "running", "done"]
    statuses: list[str]
    total: int | None
    """How many participants the run works through; null while it is queued (the worker
    reads them when it starts the run)."""
    processed: int
    invited: int
    created_at: datetime
    finished_at: datetime | None
    correlation_id: str | None = None
    """The correlation id of the request that started the run: every InvitationRequested of
    the run carries it (the envelope's ``correlation_id`` and the record's header)."""


ScannedCode = Annotated[str, Field(min_length=1, max_length=500)]


class CheckIn(Strict):
    participant_id: Id | None = None
    code: ScannedCode | None = None
    """The check-in code printed in the invitation, or what a scanner read from its QR code:
    the bare code, or a URL ending with it; trimmed, in any case."""


class EffectivenessOut(BaseModel):
    event_id: str
    status: str
    planned: int
    invited: int
    delivered: int
    failed: int
    accepted: int
    declined: int
    attended: int
    no_show: int | None
    participation_ratio: float | None
    questionnaire_responses: int
    questionnaire_response_rate: float | None
    new_potential_clients: int
    contact_records: int
    actual_cost: MoneyOut
    cost_per_attendee: MoneyOut | None
    cost_per_new_potential_client: MoneyOut | None
    budget: MoneyOut | None
    budget_variance: MoneyOut | None
