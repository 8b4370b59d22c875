"""A participant's status path, and what each fact adds to the counters (once)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm_campaigns.domain.errors import AlreadyAnswered, ParticipantNotInvited
from crm_campaigns.domain.participants import Participant, ParticipantStatus, Role, person_who

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


def test_accepted_but_not_seen_is_a_no_show_once_and_unmarked_if_seen_later() -> None:
    p = guest()
    p.invite(AT)
    p.answer_invitation("accepted", AT)
    assert p.mark_no_show(AT) == {"no_show": 1}
    assert p.status == ParticipantStatus.NO_SHOW
    assert p.mark_no_show(AT) == {}
    assert p.attend(AT) == {"attended": 1, "attended_accepted": 1, "no_show": -1}
    assert p.status == ParticipantStatus.ATTENDED
    assert p.mark_no_show(AT) == {}


def test_only_who_accepted_can_be_a_no_show() -> None:
    declined, silent, came = guest(), guest(), guest()
    for p in (declined, silent, came):
        p.invite(AT)
    declined.answer_invitation("declined", AT)
    came.answer_invitation("accepted", AT)
    came.attend(AT)
    assert [p.mark_no_show(AT) for p in (declined, silent, came)] == [{}, {}, {}]
    assert declined.status == ParticipantStatus.DECLINED


def test_a_waitlisted_guest_is_promoted_once_and_then_holds_a_seat() -> None:
    p = guest(ParticipantStatus.WAITLISTED)
    assert not p.holds_seat
    assert p.promote() == {"planned": 1}
    assert p.status == ParticipantStatus.PLANNED
    assert p.holds_seat
    assert p.promote() == {}


def test_declining_gives_up_the_seat_and_staff_never_hold_one() -> None:
    p = guest()
    p.invite(AT)
    assert p.holds_seat
    p.answer_invitation("declined", AT)
    assert not p.holds_seat
    staff = Participant("s1", "e1", "employee", Role.STAFF, ParticipantStatus.PLANNED, AT)
    assert not staff.holds_seat


def test_a_person_keeps_one_key_on_every_list_and_a_removal_keeps_it_as_a_prefix() -> None:
    p = guest()
    assert p.who == person_who("x") == "person:x"
    assert p.removed_who == "person:x/removed:p1"
