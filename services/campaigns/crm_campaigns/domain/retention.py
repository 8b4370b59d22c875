"""How long an event's list of participants is kept (docs/retention.md).

A participant holds a person's or employee's id, their name and their path (invited, accepted,
attended...). Once an event ended ``days`` ago its list has served: the effectiveness counters
and the market-needs report keep the numbers, the participants go. Pure: the job that applies
it (``handlers.retention``) reads the events and deletes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_campaigns.domain.events import MarketingEvent


@dataclass(frozen=True)
class ParticipantRetention:
    days: int

    def cutoff(self, now: datetime) -> datetime:
        """Events that ended before this have their participants removed."""
        return now - timedelta(days=self.days)

    def due(self, event: MarketingEvent, now: datetime) -> bool:
        return event.slot.ends_at < self.cutoff(now)
