"""Participants of an event and their path: planned → invited → delivered | failed →
accepted | declined → attended (or, once the event is over, a no-show).

Every milestone is recorded once on the participant; a method returns the milestones it
reached *now*, which is what the effectiveness counters add. Repeating a fact (a redelivered
notification, a second check-in) reaches nothing and so counts nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from crm_campaigns.domain.errors import AlreadyAnswered, ParticipantNotInvited


class ParticipantStatus(enum.StrEnum):
    PLANNED = "planned"
    WAITLISTED = "waitlisted"
    INVITED = "invited"
    DELIVERED = "delivered"
    FAILED = "failed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ATTENDED = "attended"
    NO_SHOW = "no_show"


class Role(enum.StrEnum):
    GUEST = "guest"
    SPEAKER = "speaker"
    STAFF = "staff"
    PARTNER = "partner"
    DEALER = "dealer"


class Milestone(enum.StrEnum):
    """What the effectiveness counters count."""

    PLANNED = "planned"
    INVITED = "invited"
    DELIVERED = "delivered"
    FAILED = "failed"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    ATTENDED = "attended"
    ATTENDED_ACCEPTED = "attended_accepted"
    """Attended having accepted: what no-shows are derived from."""


_RANK = {
    ParticipantStatus.PLANNED: 0,
    ParticipantStatus.WAITLISTED: 0,
    ParticipantStatus.INVITED: 1,
    ParticipantStatus.DELIVERED: 2,
    ParticipantStatus.FAILED: 2,
    ParticipantStatus.ACCEPTED: 3,
    ParticipantStatus.DECLINED: 3,
    ParticipantStatus.ATTENDED: 4,
    ParticipantStatus.NO_SHOW: 4,
}


def takes_a_seat(role: Role) -> bool:
    """Staff work at the event; they do not take a guest's seat."""
    return role != Role.STAFF


@dataclass
class Participant:
    participant_id: str
    event_id: str
    kind: str
    """``person`` or ``employee``."""
    role: Role
    status: ParticipantStatus
    added_at: datetime
    person_id: str | None = None
    client_id: str | None = None
    employee_id: str | None = None
    name: str | None = None
    check_in_code: str | None = None
    invited_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    answer: str | None = None
    answered_at: datetime | None = None
    attended_at: datetime | None = None
    version: int = 0

    @property
    def who(self) -> str:
        """The natural key: one person or employee is on an event's list at most once."""
        return f"employee:{self.employee_id}" if self.kind == "employee" else f"person:{self.person_id}"

    def _advance(self, status: ParticipantStatus) -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status

    def invite(self, now: datetime) -> set[Milestone]:
        if self.invited_at is not None or self.status == ParticipantStatus.WAITLISTED:
            return set()
        self.invited_at = now
        self._advance(ParticipantStatus.INVITED)
        return {Milestone.INVITED}

    def delivered(self, at: datetime) -> set[Milestone]:
        if self.invited_at is None or self.delivered_at is not None:
            return set()
        self.delivered_at = at
        reached = {Milestone.DELIVERED}
        if self.failed_at is not None:
            # A later channel got through after an earlier failure report: it was delivered.
            self.failed_at = None
            if self.status == ParticipantStatus.FAILED:
                self.status = ParticipantStatus.DELIVERED
            return reached | {Milestone.FAILED}  # the handler subtracts this one
        self._advance(ParticipantStatus.DELIVERED)
        return reached

    def failed(self, at: datetime) -> set[Milestone]:
        if self.invited_at is None or self.delivered_at is not None or self.failed_at is not None:
            return set()
        self.failed_at = at
        self._advance(ParticipantStatus.FAILED)
        return {Milestone.FAILED}

    def answer_invitation(self, answer: str, at: datetime) -> set[Milestone]:
        if self.answer is not None:
            raise AlreadyAnswered(f"participant {self.participant_id} already answered {self.answer}")
        if self.invited_at is None:
            raise ParticipantNotInvited(f"participant {self.participant_id} was not invited")
        self.answer = answer
        self.answered_at = at
        status = ParticipantStatus.ACCEPTED if answer == "accepted" else ParticipantStatus.DECLINED
        self._advance(status)
        return {Milestone.ACCEPTED if answer == "accepted" else Milestone.DECLINED}

    def attend(self, at: datetime) -> set[Milestone]:
        if self.attended_at is not None:
            return set()
        self.attended_at = at
        self.status = ParticipantStatus.ATTENDED
        reached = {Milestone.ATTENDED}
        if self.answer == "accepted":
            reached.add(Milestone.ATTENDED_ACCEPTED)
        return reached


def counter_changes(reached: set[Milestone], previously_failed: bool = False) -> dict[str, int]:
    """Counter increments for the milestones reached; a delivery after a failure moves one
    participant from failed to delivered."""
    changes = {m.value: 1 for m in reached}
    if Milestone.DELIVERED in reached and Milestone.FAILED in reached:
        changes[Milestone.FAILED.value] = -1
    return changes
