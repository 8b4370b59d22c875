"""iCalendar (RFC 5545) entries attached to invitations and event notices."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event, vCalAddress, vText

from crm_notify.channels import Attachment


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
    """A one-event calendar; ``method`` REQUEST for an invitation or a move, CANCEL to cancel."""
    cal = Calendar()
    cal.add("prodid", "-//CRM//notify//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = Event()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", stamp)
    event.add("dtstart", starts_at)
    event.add("dtend", ends_at)
    event.add("summary", title)
    event.add("location", location)
    event.add("description", description)
    if url:
        event.add("url", url)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event["organizer"] = vCalAddress(f"mailto:{organizer}")
    if attendee:
        person = vCalAddress(f"mailto:{attendee}")
        person.params["ROLE"] = vText("REQ-PARTICIPANT")
        person.params["RSVP"] = vText("FALSE")
        event.add("attendee", person, encode=False)
    cal.add_component(event)
    return Attachment(
        filename="invite.ics" if method != "CANCEL" else "cancel.ics",
        content=cal.to_ical(),
        maintype="text",
        subtype="calendar",
        # RFC 5545 3.1.4: the text is UTF-8 and the part says so, or strict clients guess.
        params=(("method", method), ("charset", "utf-8")),
    )
