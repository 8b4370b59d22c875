"""How long a prospect that never became a client is kept (docs/retention.md).

A client is a prospect while its status is ``potential``: a client never goes back to
potential, so a potential client never converted. It is due for deletion once nothing happened
to it for ``days``: not its registration, not a change, not a fact on its timeline (a contact
record, an invitation, a questionnaire, a proposal, a delivery...). Pure: the job that applies
it (``handlers.retention``) reads the dates and deletes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crm_contracts.values import ClientStatus

from crm_contacts.domain.clients import Client
from crm_contacts.domain.facts import ClientExpired


@dataclass(frozen=True)
class ProspectRetention:
    days: int

    def cutoff(self, now: datetime) -> datetime:
        """Activity before this is too old to keep a prospect."""
        return now - timedelta(days=self.days)

    @staticmethod
    def last_activity(client: Client, later: Iterable[datetime | None] = ()) -> datetime:
        """The latest of the client's registration, its last change and ``later`` dates."""
        dates = [client.registered_at, client.updated_at, *later]
        return max(d for d in dates if d is not None)

    def expire(
        self,
        client: Client,
        *,
        last_activity: datetime,
        now: datetime,
        person_ids: tuple[str, ...] = (),
        contact_ids: tuple[str, ...] = (),
        merged_client_ids: tuple[str, ...] = (),
    ) -> ClientExpired | None:
        """The fact of the client's expiry, or ``None`` when it is not (or no longer) due."""
        if client.status is not ClientStatus.POTENTIAL or client.merged_into is not None:
            return None
        if last_activity >= self.cutoff(now):
            return None
        return ClientExpired(
            person_ids=person_ids or tuple(p.person_id for p in client.people),
            contact_ids=contact_ids,
            merged_client_ids=merged_client_ids,
            last_activity_at=last_activity,
            retention_days=self.days,
            at=now,
        )
