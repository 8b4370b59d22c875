"""The store (the stack's mongod) killed with SIGKILL and restarted while the services work.

- During an invitation fan-out (campaigns and notify in this process, an SMTP server counting
  what each address receives): once a quarter of the messages are out, mongod is killed and
  started again a few seconds later. Every participant then has an invitation; a message is sent
  twice only if notify had sent it and could not record it before the store went away, so at most
  one claimed batch (``worker_batch_size``).
- During registrations (contacts in this process, clients registered over HTTP one after the
  other): every registration the service accepted (201) is stored afterwards and its
  `ClientRegistered` is on the topic; a registration made while the store was away is refused
  with a 503 problem to retry, never a 500.

Killing the store affects everything using the stack at that moment, so the store runs again
before each test ends.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from typing import Any

import pytest
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
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

pytestmark = pytest.mark.timeout(600)  # above the sum of the tests' own bounded waits

PARTICIPANTS = int(os.environ.get("CRM_RECOVERY_INVITATIONS", "150"))
BATCH = 16
"""Notify's ``worker_batch_size`` in these tests: the bound on messages sent twice."""
OUTAGE_S = 4.0


async def test_store_killed_mid_fan_out_every_invitation_arrives_and_few_twice(
    fan_out_through: Any, local_parts: Any
) -> None:
    received, killed_at = await fan_out_through(
        lambda: local_parts.kill_and_restart("store", OUTAGE_S),
        participants=PARTICIPANTS,
        kill_at=PARTICIPANTS // 4,
        notify_settings={"worker_batch_size": BATCH},
    )
    assert killed_at < PARTICIPANTS, "the store died after the fan-out ended: nothing was shown"
    assert len(received) == PARTICIPANTS  # every participant has an invitation
    twice = {address: n for address, n in received.items() if n > 1}
    assert all(n == 2 for n in twice.values()), twice
    assert len(twice) <= BATCH, f"{len(twice)} sent twice, more than one batch ({BATCH})"


async def test_store_killed_during_registrations_every_accepted_one_is_stored_and_published(
    stack: StackEndpoints, jwt_keys: JwtKeys, local_parts: Any
) -> None:
    contacts = create_contacts(ContactsSettings(**service_env(stack, jwt_keys, "contacts")))
    headers = bearer(jwt_keys, "contacts:read", "contacts:write")
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    run = uuid.uuid4().hex[:8]
    accepted: dict[str, str] = {}  # client id -> name
    refused: list[int] = []
    slowest: list[float] = []
    async with running(contacts), http_client(contacts, conformance=True) as http:

        async def register(n: int) -> None:
            name = f"{uuid.uuid4().hex} {run}"  # unlike any other: no duplicate to refuse
            started = time.monotonic()
            response = await http.post("/clients", json={"name": name}, headers=headers)
            slowest.append(time.monotonic() - started)
            if response.status_code == 201:
                accepted[response.json()["id"]] = name
            else:
                assert response.status_code == 503, response.text  # never a 500
                assert response.headers["content-type"] == "application/problem+json"
                refused.append(n)

        killer: asyncio.Task[None] | None = None
        n = 0
        deadline = time.monotonic() + 120
        while len(accepted) < 60 and time.monotonic() < deadline:
            if len(accepted) == 20 and killer is None:
                killer = asyncio.create_task(local_parts.kill_and_restart("store", OUTAGE_S))
            await register(n)
            n += 1
        assert killer is not None
        await killer
        print(f"{time.monotonic():.1f} registrations done: {len(accepted)} accepted, {refused}")
        assert len(accepted) >= 60, f"only {len(accepted)} accepted after the restart"
        # The outage met the registrations: one waited through it for the store, or was refused.
        assert refused or max(slowest) >= OUTAGE_S / 2, (refused, max(slowest))

        db = contacts.state.runtime.db
        stored = {d["_id"] async for d in db["clients"].find({"_id": {"$in": list(accepted)}})}
        assert stored == set(accepted), f"accepted but not stored: {set(accepted) - stored}"

        async def all_published() -> bool:
            return await db["outbox"].count_documents({}) == 0

        await eventually(all_published, within=60, what="every event published")
        print(f"{time.monotonic():.1f} outbox empty")

    print(f"{time.monotonic():.1f} contacts stopped")
    ids = set(accepted)
    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        stop_when=lambda rs: ids <= {r.key.decode() for r in rs if r.key},
    )
    assert ids <= {r.key.decode() for r in records if r.key}
