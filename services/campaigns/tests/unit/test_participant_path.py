"""A participant's status path, and what each fact adds to the counters (once)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm_campaigns.domain.errors import AlreadyAnswered, ParticipantNotInvited
from crm_campaigns.domain.participants import Participant, ParticipantStatus, Role

AT = datetime(2031, 3, 1, tzinfo=UTC)


def guest(status: ParticipantStatus = ParticipantStatus.PLANNED) -> Participant:
    return Participant("p1", "e1", "person", Role.GUEST, status, AT, person_id="x")


def test_the_path_runs_planned_invited_delivered_accepted_attended() -> None:
    p = guest()
    assert p.invite(AT) == {"invited": 1}
    assert p.delivered(AT) == {"delivered": 1}
    assert p.answer_invitation("accepted", AT) == {"accepted": 1}
    assert p.attend(AT) == {"attended": 1, "attended_accepted": 1}
    assert p.status == ParticipantStatus.ATTENDED


def test_a_repeated_fact_counts_nothing() -> None:
    p = guest()
    p.invite(AT)
    p.delivered(AT)
    p.attend(AT)
    assert p.invite(AT) == {}
    assert p.delivered(AT) == {}
    assert p.failed(AT) == {}
    assert p.attend(AT) == {}


def test_answering_twice_is_refused_and_changes_nothing() -> None:
    p = guest()
    p.invite(AT)
    p.answer_invitation("declined", AT)
    with pytest.raises(AlreadyAnswered):
        p.answer_invitation("accepted", AT)
    assert p.answer == "declined"


def test_an_answer_needs_an_invitation() -> None:
    with pytest.raises(ParticipantNotInvited):
        guest().answer_invitation("accepted", AT)


def test_a_delivery_after_an_answer_counts_but_does_not_move_the_status_back() -> None:
    p = guest()
    p.invite(AT)
    p.answer_invitation("accepted", AT)
    assert p.delivered(AT) == {"delivered": 1}
    assert p.status == ParticipantStatus.ACCEPTED


def test_a_failed_delivery_can_be_invited_again_moving_the_counter_back() -> None:
    p = guest()
    p.invite(AT)
    assert p.failed(AT) == {"failed": 1}
    assert p.status == ParticipantStatus.FAILED
    assert p.invite(AT) == {"failed": -1}
    assert p.status == ParticipantStatus.INVITED


def test_a_waitlisted_participant_is_not_invited() -> None:
    assert guest(ParticipantStatus.WAITLISTED).invite(AT) == {}
