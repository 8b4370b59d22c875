"""The retention job: prospects never converted are deleted once their period is over.

A deleted prospect's data keys are destroyed after its deletion commits, as an erasure
destroys them (``handlers.erasure``): its people's fields sealed in events already on the
topics read as erased from then on, not only its documents here.

Runs in every replica, every ``retention_interval_s``; a prospect is judged by the domain
(``domain.retention``) on what the transaction that deletes it reads, and deleted with its
``ClientExpired`` in that transaction (``repository.prospects``): running it twice, or in two
replicas at once, deletes each prospect once and publishes one fact for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from crm_contacts import domain, events
from crm_contacts.domain.retention import ProspectRetention
from crm_contacts.handlers.erasure import answered_subjects, client_subjects
from crm_contacts.repository.prospects import Gone, ProspectRepository
from crm_contacts.settings import settings_of
from crm_contracts import contacts as c
from crm_kit.clock import utc_now
from crm_kit.logs import correlation_id, new_correlation_id
from crm_kit.metrics import RETENTION_DELETED
from crm_kit.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Expired:
    client_ids: tuple[str, ...]
    """Prospects this run deleted, in registration order."""


async def expire_prospects(runtime: Runtime, *, now: datetime | None = None) -> Expired:
    """Delete every prospect whose retention period is over at ``now``."""
    settings = settings_of(runtime)
    if not settings.prospect_retention_days:
        return Expired(())
    rule = ProspectRetention(settings.prospect_retention_days)
    now = now or utc_now()
    prospects = ProspectRepository(runtime)

    sealed: dict[str, tuple[str, ...]] = {}

    def judge(client: domain.Client, gone: Gone) -> c.ClientExpired | None:
        last = rule.last_activity(client, [gone.last_activity])
        fact = rule.expire(
            client,
            last_activity=last,
            now=now,
            contact_ids=gone.contact_ids,
            merged_client_ids=gone.merged_client_ids,
        )
        if fact is None:
            return None
        sealed[client.client_id] = client_subjects(client)
        return events.client_expired(client.client_id, fact)

    expired: list[str] = []
    resume: tuple[datetime, str] | None = None
    token = correlation_id.set(new_correlation_id())
    try:
        while True:
            batch = await prospects.registered_before(
                rule.cutoff(now), after=resume, limit=settings.retention_batch_size
            )
            for _, client_id in batch:
                # Read before the client's contact records go with it.
                answered = await answered_subjects(runtime, client_id=client_id)
                if await prospects.expire(client_id, judge) is not None:
                    expired.append(client_id)
                    if runtime.sealer is not None:
                        await runtime.sealer.vault.destroy((*sealed[client_id], *answered))
            if len(batch) < settings.retention_batch_size:
                break
            resume = batch[-1]
    finally:
        correlation_id.reset(token)
    if expired:
        RETENTION_DELETED.labels("contacts", "prospects").inc(len(expired))
        log.info(
            "retention: %d prospect(s) idle for over %d days deleted",
            len(expired),
            rule.days,
        )
    return Expired(tuple(expired))


async def retention_worker(runtime: Runtime) -> None:
    """Background loop of the retention job (``ServiceSpec.workers``)."""
    while True:
        await expire_prospects(runtime)
        await asyncio.sleep(settings_of(runtime).retention_interval_s)
