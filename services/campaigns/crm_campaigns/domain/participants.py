"""Participants of an event and their path: planned → invited → delivered | failed →
accepted | declined → attended (or, once the event is over, a no-show).

Every milestone is recorded once on the participant; a method returns the milestones it
reached *now*, which is what the effectiveness counters add. Repeating a fact (a redelivered
notification, a second check-in) reaches nothing and so counts nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from crm_campaigns.domain.errors import AlreadyAnswered, ParticipantNotInvited


def check_in_qr_text(code: str) -> str:
    """What the QR code of an invitation encodes: the bare check-in code (upper case, the
    QR code's compact alphanumeric mode)."""
    return code.strip().upper()


def scanned_check_in_code(scanned: str) -> str:
    """The check-in code in what was scanned from an invitation's QR code or typed by staff:
    the bare code, or a URL (or path) whose last segment is the code; trimmed, in any case."""
    text = scanned.strip()
    if "/" in text:
        path = urlsplit(text).path if "://" in text else text.split("?")[0].split("#")[0]
        text = path.rstrip("/").rsplit("/", 1)[-1]
    return text.strip().upper()


def person_who(person_id: str) -> str:
    """A person's natural key on an event's list (``Participant.who``), the same on every
    event: their participations across events are found by it."""
    return f"person:{person_id}"


REMOVED_WHO = "/removed:"
"""What joins a removed participant's former ``who`` and its id in the key it keeps."""


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
    """Attended having accepted."""
    NO_SHOW = "no_show"
    """Accepted but did not come, marked once the event is completed."""


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
    no_show_at: datetime | None = None
    version: int = 0
    stored: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The document this participant was read from (none for a new one): a write sets only
    the fields that differ from it."""

    @property
    def who(self) -> str:
        """The natural key: one person or employee is on an event's list at most once."""
        if self.kind == "employee":
            return f"employee:{self.employee_id}"
        assert self.person_id is not None
        return person_who(self.person_id)

    @property
    def removed_who(self) -> str:
        """The key kept once removed from the list: it frees ``who`` for a later add, and
        begins with it, so a person's participations, removed ones too, are found by it."""
        return f"{self.who}{REMOVED_WHO}{self.participant_id}"

    @property
    def holds_seat(self) -> bool:
        """Counted against the capacity: a guest (not staff) off the waiting list who has not
        declined."""
        return (
            takes_a_seat(self.role)
            and self.status != ParticipantStatus.WAITLISTED
            and self.answer != "declined"
        )

    def promote(self) -> dict[str, int]:
        """Off the waiting list onto the list proper, into a freed seat."""
        if self.status != ParticipantStatus.WAITLISTED:
            return {}
        self.status = ParticipantStatus.PLANNED
        return {Milestone.PLANNED: 1}

    def mark_no_show(self, at: datetime) -> dict[str, int]:
        """Once the event is over: accepted, yet never seen there."""
        if self.answer != "accepted" or self.attended_at is not None or self.no_show_at:
            return {}
        self.no_show_at = at
        self.status = ParticipantStatus.NO_SHOW
        return {Milestone.NO_SHOW: 1}

    def _advance(self, status: ParticipantStatus) -> None:
        if _RANK[status] > _RANK[self.status]:
            self.status = status

    def invite(self, now: datetime) -> dict[str, int]:
        """First invitation, or a new one after a failed delivery; nothing otherwise."""
        if self.status == ParticipantStatus.WAITLISTED:
            return {}
        if self.invited_at is None:
            self.invited_at = now
            self._advance(ParticipantStatus.INVITED)
            return {Milestone.INVITED: 1}
        if self.status == ParticipantStatus.FAILED:
            self.failed_at = None
            self.status = ParticipantStatus.INVITED
            return {Milestone.FAILED: -1}
        return {}

    def delivered(self, at: datetime) -> dict[str, int]:
        # Notify reports one outcome per invitation; the first one reported stands.
        if self.invited_at is None or self.delivered_at is not None or self.failed_at is not None:
            return {}
        self.delivered_at = at
        self._advance(ParticipantStatus.DELIVERED)
        return {Milestone.DELIVERED: 1}

    def failed(self, at: datetime) -> dict[str, int]:
        if self.invited_at is None or self.delivered_at is not None or self.failed_at is not None:
            return {}
        self.failed_at = at
        self._advance(ParticipantStatus.FAILED)
        return {Milestone.FAILED: 1}

    def answer_invitation(self, answer: str, at: datetime) -> dict[str, int]:
        if self.answer is not None:
            raise AlreadyAnswered(
                f"participant {self.participant_id} already answered: {self.answer}"
            )
        if self.invited_at is None:
            raise ParticipantNotInvited(f"participant {self.participant_id} was not invited")
        accepted = answer == "accepted"
        self.answer = answer
        self.answered_at = at
        self._advance(ParticipantStatus.ACCEPTED if accepted else ParticipantStatus.DECLINED)
        return {Milestone.ACCEPTED if accepted else Milestone.DECLINED: 1}

    def attend(self, at: datetime) -> dict[str, int]:
        if self.attended_at is not None:
            return {}
        self.attended_at = at
        self.status = ParticipantStatus.ATTENDED
        reached = {Milestone.ATTENDED.value: 1}
        if self.answer == "accepted":
            reached[Milestone.ATTENDED_ACCEPTED.value] = 1
        if self.no_show_at is not None:
            # Seen after all (a late check-in or contact record): no longer a no-show.
            self.no_show_at = None
            reached[Milestone.NO_SHOW.value] = -1
        return reached
