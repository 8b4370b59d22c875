"""A participant's write sets the fields that changed since it was read, and only those."""

from __future__ import annotations

from datetime import UTC, datetime

from crm_campaigns.domain.participants import Participant, ParticipantStatus, Role
from crm_campaigns.repository.documents import (
    participant_changes,
    participant_doc,
    participant_of,
)

AT = datetime(2031, 5, 1, 10, tzinfo=UTC)


def stored() -> dict[str, object]:
    new = Participant(
        participant_id="p-1",
        event_id="e-1",
        kind="person",
        role=Role.GUEST,
        status=ParticipantStatus.PLANNED,
        added_at=AT,
        person_id="person-1",
        client_id="client-1",
        name="Ada",
        check_in_code="K7Q2M9XD",
    )
    return {"_id": new.participant_id, **participant_doc(new), "version": 3}


def test_a_participant_read_and_invited_sets_its_status_and_invitation_time_alone() -> None:
    p = participant_of(stored())
    p.invite(AT)
    assert participant_changes(p) == {"status": "invited", "invited_at": AT}
    assert {**stored(), **participant_changes(p)} == {
        "_id": "p-1",
        **participant_doc(p),
        "version": 3,
    }


def test_a_participant_read_and_left_as_it_was_sets_nothing() -> None:
    assert participant_changes(participant_of(stored())) == {}


def test_a_field_the_stored_document_lacks_is_set_even_when_empty() -> None:
    doc = stored()
    del doc["no_show_at"]
    assert participant_changes(participant_of(doc)) == {"no_show_at": None}


def test_a_participant_not_read_from_the_store_sets_every_field() -> None:
    p = participant_of(stored())
    fresh = Participant(**{**vars(p), "stored": None})
    assert participant_changes(fresh) == participant_doc(fresh)


def test_the_document_read_is_no_part_of_the_participants_equality() -> None:
    assert participant_of(stored()) == Participant(
        **{**vars(participant_of(stored())), "stored": None}
    )
