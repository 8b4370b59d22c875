"""A service killed with SIGKILL while it takes writes loses none of them and none of their events.

The contacts service runs as its own process (own database, own consumer group, a free port).
Clients are registered over HTTP by several concurrent callers; part-way through, the process
is killed with SIGKILL — between store writes and the relay's publishes, wherever they are.
After a restart on the same database:
  - every registration answered 201 is stored (no accepted write lost);
  - every stored client has its `ClientRegistered` on the topic (0 missing), whichever
    process instance stored it;
  - nothing is published for a client that was not stored.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.testing import JwtKeys, StackEndpoints, bearer, end_offsets, read_topic
from pymongo import AsyncMongoClient

CALLERS = 12
REGISTRATIONS = int(os.environ.get("CRM_RECOVERY_REGISTRATIONS", "160"))
"""Registrations in the run (160 in the suite; docs/reliability.md for higher counts)."""
KILL_AFTER = REGISTRATIONS * 3 // 8
WAIT_S = max(120.0, REGISTRATIONS * 0.1)


async def test_a_killed_service_loses_no_accepted_write_and_no_event(
    stack: StackEndpoints, jwt_keys: JwtKeys, service_process: Callable[..., Any]
) -> None:
    service = service_process("contacts")
    headers = bearer(jwt_keys, "contacts:write", "contacts:read")
    run = uuid.uuid4().hex[:8]
    since = await end_offsets(stack.kafka_bootstrap, CONTACTS)
    service.start()

    accepted: set[str] = set()
    answered = 0
    killed = asyncio.Event()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(REGISTRATIONS):
        queue.put_nowait(i)

    async def caller(http: httpx.AsyncClient) -> None:
        nonlocal answered
        while not queue.empty() and not killed.is_set():
            i = queue.get_nowait()
            body = {"name": f"Recovery {run} {i:04d}", "kind": "organisation"}
            try:
                response = await http.post("/clients", json=body, headers=headers)
            except httpx.HTTPError:
                continue  # the process died under this request: its outcome is unknown
            if response.status_code == 201:
                accepted.add(response.json()["id"])
            answered += 1
            if answered == KILL_AFTER and not killed.is_set():
                service.kill()
                killed.set()

    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        await asyncio.gather(*(caller(http) for _ in range(CALLERS)))
    assert killed.is_set(), "the process was never killed; the test proved nothing"
    assert len(accepted) >= KILL_AFTER - CALLERS

    service.start()  # same database, same consumer group
    async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
        while not queue.empty():
            i = queue.get_nowait()
            body = {"name": f"Recovery {run} {i:04d}", "kind": "organisation"}
            response = await http.post("/clients", json=body, headers=headers)
            assert response.status_code == 201, response.text
            accepted.add(response.json()["id"])

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri)
    try:
        db = client[service.env["CRM_CONTACTS_MONGO_DATABASE"]]
        stored = {
            d["_id"]
            async for d in db["clients"].find({"name": {"$regex": f"^Recovery {run} "}}, {"_id": 1})
        }
    finally:
        await client.close()
    assert accepted <= stored, f"accepted but not stored: {sorted(accepted - stored)}"

    def registered(records: list[Any]) -> set[str]:
        found = set()
        for record in records:
            envelope = Envelope.from_bytes(record.value)
            if envelope.event_type == "ClientRegistered" and envelope.payload["name"].startswith(
                f"Recovery {run} "
            ):
                found.add(envelope.payload["client_id"])
        return found

    records = await read_topic(
        stack.kafka_bootstrap,
        CONTACTS,
        since=since,
        until_idle=2.0,
        within=WAIT_S,
        stop_when=lambda rs: registered(rs) >= stored,
    )
    published = registered(records)
    assert stored - published == set(), f"stored without an event: {sorted(stored - published)}"
    assert published - stored == set(), f"an event without a stored client: {published - stored}"
