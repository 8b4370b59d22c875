"""Use cases of the contacts service: load, act on the domain, save with the outbox."""

from __future__ import annotations

from crm_kit.clock import utc_now
from crm_kit.problems import NotFound
from crm_kit.runtime import Runtime

from crm_contacts import domain
from crm_contacts.repository import ClientRepository
from crm_contacts.schemas import ClientCreate


async def register_client(runtime: Runtime, command: ClientCreate, *, by: str) -> domain.Client:
    client = domain.register_client(
        kind=command.kind,
        name=command.name,
        now=utc_now(),
        tax_id=command.tax_id,
        country=command.country,
        region=command.region,
        size=command.size,
        tags=tuple(command.tags),
        website=command.website,
        source=command.source,
        source_event_id=command.source_event_id,
    )
    return await ClientRepository(runtime).add(client, by=by)


async def get_client(runtime: Runtime, client_id: str) -> domain.Client:
    client = await ClientRepository(runtime).get(client_id)
    if client is None:
        raise NotFound(f"client {client_id} not found")
    return client
