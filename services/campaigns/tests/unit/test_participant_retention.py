"""When an event's participant list is due for removal: the event ended the period ago."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from crm_campaigns.domain.events import EventStatus
from crm_campaigns.domain.retention import ParticipantRetention

from .test_event_lifecycle import schedule

RULE = ParticipantRetention(days=730)


def test_a_list_goes_once_the_event_ended_the_period_ago_and_not_before() -> None:
    event = schedule()
    ended = event.slot.ends_at

    assert not RULE.due(event, ended + timedelta(days=730))
    assert RULE.due(event, ended + timedelta(days=730, seconds=1))


def test_a_cancelled_event_counts_from_its_planned_end() -> None:
    event = replace(schedule(), status=EventStatus.CANCELLED)

    assert RULE.due(event, event.slot.ends_at + timedelta(days=731))
    assert RULE.cutoff(datetime(2030, 1, 1, tzinfo=UTC)) == datetime(2028, 1, 2, tzinfo=UTC)
