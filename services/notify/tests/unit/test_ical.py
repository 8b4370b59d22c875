"""The calendar entry of an invitation: RFC 5545 text that a calendar library reads back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from crm_notify.ical import LINE_OCTETS, calendar_entry
from icalendar import Calendar

DESCRIPTION = (
    "Dear Guest,\n\nYou are invited; come early, please \\ thank you. "
    "Приглашаем вас на семинар, начало в десять часов утра по местному времени."
)


def _entry(method: str = "REQUEST") -> bytes:
    return calendar_entry(
        method=method,
        uid="evt-1.par-1@crm",
        sequence=2,
        title="Seminar; part 1, basics",
        starts_at=datetime(2031, 5, 1, 10, 0, tzinfo=UTC),
        ends_at=datetime(2031, 5, 1, 15, 0, tzinfo=timezone(timedelta(hours=3))),
        location="Hall 1, Moscow",
        description=DESCRIPTION,
        url="https://crm.example/i/token",
        attendee="guest@example.org",
        organizer="crm@example.org",
        stamp=datetime(2026, 12, 6, 12, 0, 5, tzinfo=UTC),
    ).content


def test_an_invitation_entry_reads_back_with_every_field() -> None:
    event = Calendar.from_ical(_entry()).walk("VEVENT")[0]
    assert str(event["summary"]) == "Seminar; part 1, basics"
    assert str(event["description"]) == DESCRIPTION
    assert str(event["location"]) == "Hall 1, Moscow"
    assert event.decoded("dtstart") == datetime(2031, 5, 1, 10, 0, tzinfo=UTC)
    assert event.decoded("dtend") == datetime(2031, 5, 1, 12, 0, tzinfo=UTC)
    assert str(event["uid"]) == "evt-1.par-1@crm"
    assert int(event["sequence"]) == 2
    assert str(event["status"]) == "CONFIRMED"
    assert str(event["attendee"]) == "mailto:guest@example.org"
    assert event["attendee"].params["RSVP"] == "FALSE"
    assert str(event["organizer"]) == "mailto:crm@example.org"
    assert str(event["url"]) == "https://crm.example/i/token"


def test_long_lines_are_folded_within_75_octets_without_splitting_a_character() -> None:
    content = _entry()
    lines = content.split(b"\r\n")
    assert all(len(line) <= LINE_OCTETS for line in lines)
    for line in lines:
        line.decode()  # each physical line is whole UTF-8
    assert any(line.startswith(b" ") for line in lines)


def test_a_cancellation_is_a_cancelled_event() -> None:
    calendar = Calendar.from_ical(_entry("CANCEL"))
    assert str(calendar["method"]) == "CANCEL"
    assert str(calendar.walk("VEVENT")[0]["status"]) == "CANCELLED"
