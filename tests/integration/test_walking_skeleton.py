"""A client registered on contacts crosses the broker into campaigns' projection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from crm_campaigns.app import CampaignsSettings
from crm_campaigns.app import create as create_campaigns
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    end_offsets,
    eventually,
    http_client,
    read_topic,
    running,
    service_env,
)


@dataclass(frozen=True)
class Services:
    contacts: Any
    """An HTTP client of contacts."""
    campaigns: Any
    """An HTTP client of campaigns."""
    contacts_db: Any
    """Contacts' own database, to see what a refused request left behind."""


@pytest.fixture
async def services(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Services]:
    # Fresh groups join at the topics' end: the test needs only what it publishes itself.
    contacts = create_contacts(
        ContactsSettings(**service_env(stack, jwt_keys, "contacts", consumer_start_at_end=True))
    )
    campaigns = create_campaigns(
        CampaignsSettings(**service_env(stack, jwt_keys, "campaigns", consumer_start_at_end=True))
    )
    async with (
        running(contacts),
        running(campaigns),
        http_client(contacts, conformance=True) as c,
        http_client(campaigns, conformance=True) as k,
    ):
        yield Services(c, k, contacts.state.runtime.db)


async def test_a_registered_client_reaches_the_campaigns_projection(
    stack: StackEndpoints, jwt_keys: JwtKeys, services: Services
) -> None:
    contacts, campaigns = services.contacts, services.campaigns
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    created = await contacts.post(
        "/clients",
        json={"name": "Acme  Tools", "region": "Moscow", "tags": ["Retail", "retail", "b2b"]},
        headers={**bearer(jwt_keys, "contacts:write"), "X-Correlation-ID": "skeleton-1"},
    )
    assert created.status_code == 201, created.text
    client = created.json()
    assert client["name"] == "Acme Tools"
    assert client["status"] == "potential"
    assert client["tags"] == ["retail", "b2b"]
    assert created.headers["Location"] == f"/clients/{client['id']}"

    read = await contacts.get(f"/clients/{client['id']}", headers=bearer(jwt_keys, "contacts:read"))
    assert read.status_code == 200
    assert read.json() == client

    async def projected() -> Any:
        response = await campaigns.get(
            f"/audience/clients/{client['id']}", headers=bearer(jwt_keys, "campaigns:read")
        )
        return response.json() if response.status_code == 200 else None

    seen = await eventually(projected, what="the client in campaigns' projection")
    assert seen == {
        "id": client["id"],
        "name": "Acme Tools",
        "kind": "organisation",
        "status": "potential",
        "field_of_activity": None,
        "region": "Moscow",
        "size": None,
        "tags": ["retail", "b2b"],
        "version": 1,
    }

    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        stop_when=lambda rs: any(r.key == client["id"].encode() for r in rs),
    )
    ours = [Envelope.from_bytes(r.value) for r in records if r.key == client["id"].encode()]
    assert [e.event_type for e in ours] == ["ClientRegistered"]
    assert ours[0].correlation_id == "skeleton-1"
    assert ours[0].producer == "contacts"


async def test_registering_needs_a_token_with_the_write_scope(
    jwt_keys: JwtKeys, services: Services
) -> None:
    contacts = services.contacts
    anonymous = await contacts.post("/clients", json={"name": "Nobody"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    reader = await contacts.post(
        "/clients", json={"name": "Nobody"}, headers=bearer(jwt_keys, "contacts:read")
    )
    assert reader.status_code == 403
    assert "contacts:write" in reader.json()["detail"]


async def test_an_unknown_field_is_refused_naming_it_and_nothing_is_stored(
    jwt_keys: JwtKeys, services: Services
) -> None:
    contacts = services.contacts
    response = await contacts.post(
        "/clients",
        json={"name": "Sneaky", "status": "partner"},
        headers=bearer(jwt_keys, "contacts:write"),
    )
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["body.status"]
    # The service's own database holds no client.
    assert await services.contacts_db["clients"].count_documents({}) == 0
