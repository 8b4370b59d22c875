"""The plan-schedule as an iCalendar feed (RFC 5545), through the icalendar library."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from icalendar import Calendar, Event

from crm_campaigns.domain.events import EventStatus, MarketingEvent

_STATUS = {
    EventStatus.SCHEDULED: "CONFIRMED",
    EventStatus.COMPLETED: "CONFIRMED",
    EventStatus.CANCELLED: "CANCELLED",
}


def feed(events: Iterable[MarketingEvent], *, domain: str, now: datetime) -> bytes:
    cal = Calendar()
    cal.add("prodid", "-//CRM campaigns//plan-schedule//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "Marketing events plan-schedule")
    for e in events:
        item = Event()
        item.add("uid", f"{e.event_id}@{domain}")
        item.add("dtstamp", now)
        item.add("dtstart", e.slot.starts_at)
        item.add("dtend", e.slot.ends_at)
        item.add("summary", f"{e.title} ({e.kind})")
        if e.topic:
            item.add("description", e.topic)
        location = ", ".join(p for p in (e.place.venue, e.place.address) if p)
        if location:
            item.add("location", location)
        if e.place.online_url:
            item.add("url", e.place.online_url)
        item.add("status", _STATUS[e.status])
        item.add("sequence", e.version)
        item.add("categories", [e.kind])
        cal.add_component(item)
    data: bytes = cal.to_ical()
    return data
