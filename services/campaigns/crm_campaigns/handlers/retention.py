"""The retention job: the participants of events long over are removed, and with them the
free texts of the event's questionnaire answers (the counts stay).

Runs in every replica, every ``retention_interval_s``. Each event is judged by the domain
(``domain.retention``) in the transaction that clears it (``repository.retention``), so
running it again or in two replicas at once changes nothing more. No fact is published: no
other service keeps a copy of a participant to delete (notify's and contacts' copies are of
the invitation, not of the list), and the event's numbers stay in its effectiveness.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from crm_kit.clock import utc_now
from crm_kit.metrics import RETENTION_DELETED
from crm_kit.runtime import Runtime

from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.retention import ParticipantRetention
from crm_campaigns.repository.retention import ParticipantLists
from crm_campaigns.settings import settings_of

log = logging.getLogger(__name__)


async def remove_past_participants(
    runtime: Runtime, *, now: datetime | None = None
) -> dict[str, int]:
    """Remove the participants of every event due at ``now``: removed count by event id."""
    settings = settings_of(runtime)
    if not settings.participant_retention_days:
        return {}
    rule = ParticipantRetention(settings.participant_retention_days)
    now = now or utc_now()
    lists = ParticipantLists(runtime)

    def due(event: MarketingEvent) -> bool:
        return rule.due(event, now)

    removed: dict[str, int] = {}
    while True:
        batch = await lists.ended_before(rule.cutoff(now), limit=settings.retention_batch_size)
        done = 0
        for event_id in batch:
            count = await lists.remove(event_id, due, now)
            if count is not None:
                removed[event_id] = count
                done += 1
        # Every event read is marked now (by this run or another): the next read moves on.
        if len(batch) < settings.retention_batch_size or not done:
            break
    if removed:
        RETENTION_DELETED.labels("campaigns", "participants").inc(sum(removed.values()))
        log.info(
            "retention: participants of %d event(s) over for more than %d days removed",
            len(removed),
            rule.days,
        )
    return removed


async def retention_worker(runtime: Runtime) -> None:
    """Background loop of the retention job (``ServiceSpec.workers``)."""
    while True:
        await remove_past_participants(runtime)
        await asyncio.sleep(settings_of(runtime).retention_interval_s)
