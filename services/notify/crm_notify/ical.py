"""iCalendar (RFC 5545) entries attached to invitations and event notices."""

from __future__ import annotations

import functools
from datetime import UTC, datetime

from crm_notify.channels import Attachment

LINE_OCTETS = 75
"""RFC 5545 3.1: content lines are folded at 75 octets (the continuation's leading space
counts), never inside a UTF-8 sequence."""


def _text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): backslash, semicolon, comma and line breaks escaped."""
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\n")
        .replace("\n", "\\n")
    )


@functools.lru_cache(maxsize=256)
def _utc(at: datetime) -> str:
    """A DATE-TIME in UTC (``...Z``); a naive one is taken as UTC, as the store gives it. Kept:
    an event's start and end are the same for all its participants, the stamp for a batch."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%SZ")


def _fold(line: str) -> str:
    if len(line) <= LINE_OCTETS and line.isascii():
        return line + "\r\n"
    raw = line.encode()
    if len(raw) <= LINE_OCTETS:
        return line + "\r\n"
    parts, start, limit = [], 0, LINE_OCTETS
    while start < len(raw):
        end = min(start + limit, len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:  # inside a UTF-8 sequence
            end -= 1
        parts.append(raw[start:end])
        start, limit = end, LINE_OCTETS - 1
    return (b"\r\n ".join(parts) + b"\r\n").decode()


def calendar_entry(
    *,
    method: str,
    uid: str,
    sequence: int,
    title: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str,
    description: str,
    url: str | None,
    attendee: str | None,
    organizer: str,
    stamp: datetime,
) -> Attachment:
    """A one-event calendar; ``method`` REQUEST for an invitation or a move, CANCEL to cancel.

    Written line by line here: building it with the ``icalendar`` package's objects took more
    CPU than anything else about an invitation but its QR code and its MIME structure."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//CRM//notify//EN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"SUMMARY:{_text(title)}",
        f"DTSTART:{_utc(starts_at)}",
        f"DTEND:{_utc(ends_at)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"UID:{_text(uid)}",
        f"SEQUENCE:{int(sequence)}",
    ]
    if attendee:
        lines.append(f"ATTENDEE;ROLE=REQ-PARTICIPANT;RSVP=FALSE:mailto:{attendee}")
    lines += [
        f"DESCRIPTION:{_text(description)}",
        f"LOCATION:{_text(location)}",
        f"ORGANIZER:mailto:{organizer}",
        f"STATUS:{'CANCELLED' if method == 'CANCEL' else 'CONFIRMED'}",
    ]
    if url:
        lines.append(f"URL:{url}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return Attachment(
        filename="invite.ics" if method != "CANCEL" else "cancel.ics",
        content="".join([_fold(line) for line in lines]).encode(),
        maintype="text",
        subtype="calendar",
        # RFC 5545 3.1.4: the text is UTF-8 and the part says so, or strict clients guess.
        params=(("method", method), ("charset", "utf-8")),
    )
