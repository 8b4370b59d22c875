"""The Kafka broker killed with SIGKILL and restarted in the middle of an invitation fan-out.

Campaigns and notify run in this process against the real stack; an SMTP server here counts
what each address receives. The people arrive as contacts' events, as they would in production.
An invitation run for every participant starts; once a quarter of the messages have reached the
SMTP server the broker is killed with SIGKILL, and restarted a few seconds later. Afterwards
every participant has received exactly one invitation: none missing, none twice.

Killing the broker affects everything using the stack at that moment, so this test restarts it
before it ends, and the suite's other tests see a broker that is up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_campaigns.app import CampaignsSettings
from crm_campaigns.app import create as create_campaigns
from crm_contracts.contacts import ClientRegistered, ClientSource
from crm_contracts.values import ClientKind, ClientSourceKind, ClientStatus, RecipientKind
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    eventually,
    http_client,
    running,
    service_env,
)
from crm_notify.app import create as create_notify
from crm_notify.repository import recipient_key
from crm_notify.settings import NotifySettings
from crm_stack import stack as local_stack
from crm_stack.config import StackConfig

PARTICIPANTS = int(os.environ.get("CRM_RECOVERY_INVITATIONS", "150"))
"""Participants invited in the run (150 in the suite; docs/reliability.md for higher counts)."""
KILL_AT = PARTICIPANTS // 4
OUTAGE_S = 4.0


def _wait(floor_s: float) -> float:
    """A wait's upper bound: ``floor_s`` at the suite's count, growing with a larger one."""
    return max(floor_s, PARTICIPANTS * 0.1)


@pytest.fixture
def local_broker(stack: StackEndpoints) -> Iterator[StackConfig]:
    """The local stack's configuration; whatever happens, the broker runs again afterwards."""
    cfg = StackConfig.from_env()
    assert cfg.kafka_bootstrap == stack.kafka_bootstrap, (
        f"the tests use {stack.kafka_bootstrap} but crm-stack's settings name "
        f"{cfg.kafka_bootstrap}: set the same CRM_STACK_* variables for both"
    )
    assert local_stack.broker_pid(cfg) is not None, "the broker was not started by crm-stack"
    try:
        yield cfg
    finally:
        if local_stack.broker_pid(cfg) is None:
            local_stack.up(cfg, say=lambda _: None)


async def test_broker_killed_mid_fan_out_every_invitation_arrives_once(
    stack: StackEndpoints,
    jwt_keys: JwtKeys,
    smtp: tuple[Any, int],
    fan_out: Any,
    local_broker: StackConfig,
) -> None:
    counter, smtp_port = smtp
    tag = f"recovery-{uuid.uuid4().hex[:8]}"
    client_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    client = ClientRegistered(
        client_id=client_id,
        kind=ClientKind.ORGANISATION,
        name=f"Recovery {tag}",
        status=ClientStatus.ACTIVE,
        tags=(tag,),
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=1,
        registered_at=now,
    )
    people = fan_out.people(counter.domain, client_id, PARTICIPANTS)
    person_ids = [p.person_id for p in people]
    recipient_keys = [recipient_key(RecipientKind.PERSON, p) for p in person_ids]

    campaigns = create_campaigns(CampaignsSettings(**service_env(stack, jwt_keys, "campaigns")))
    notify = create_notify(
        NotifySettings(
            **service_env(
                stack,
                jwt_keys,
                "notify",
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                gateway_url=None,
                retry_base_s=0.5,
                retry_cap_s=2.0,
                retry_max_attempts=20,
                worker_poll_s=0.1,
            )
        )
    )
    headers = bearer(jwt_keys, "campaigns:read", "campaigns:write")
    producer = AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        async with running(campaigns), running(notify), http_client(campaigns) as http:
            await fan_out.publish(producer, [client, *people])
            cdb, ndb = campaigns.state.runtime.db, notify.state.runtime.db

            async def projections_hold_everyone() -> bool:
                return (
                    await fan_out.known(cdb["people_projection"], person_ids) == PARTICIPANTS
                    and await fan_out.known(ndb["recipients"], recipient_keys) == PARTICIPANTS
                )

            await eventually(projections_hold_everyone, within=_wait(120), what="both projections")

            programme = await http.post(
                "/programmes",
                json={
                    "name": tag,
                    "portrait": {"tags": [tag]},
                    "starts_on": "2031-01-01",
                    "ends_on": "2031-12-31",
                },
                headers=headers,
            )
            assert programme.status_code == 201, programme.text
            event = await http.post(
                "/events",
                json={
                    "kind": "seminar",
                    "title": "Recovery seminar",
                    "place": {"venue": "Hall 2"},
                    "starts_at": "2031-05-01T10:00:00Z",
                    "ends_at": "2031-05-01T12:00:00Z",
                    "timezone": "UTC",
                    "programme_id": programme.json()["id"],
                },
                headers=headers,
            )
            assert event.status_code == 201, event.text
            eid = event.json()["id"]
            selected = await http.post(
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers
            )
            assert selected.status_code in (200, 201), selected.text
            run = await http.post(f"/events/{eid}/invitations", json={}, headers=headers)
            assert run.status_code == 202, run.text

            deadline = time.monotonic() + _wait(180)
            while sum(counter.snapshot().values()) < KILL_AT:
                assert time.monotonic() < deadline, f"only {counter.snapshot().total()} sent"
                await asyncio.sleep(0.05)
            pid = local_stack.broker_pid(local_broker)
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            killed_at = sum(counter.snapshot().values())
            await asyncio.sleep(OUTAGE_S)
            await asyncio.to_thread(local_stack.up, local_broker, say=lambda _: None)

            await eventually(
                lambda: len(counter.snapshot()) == PARTICIPANTS,
                within=_wait(240),
                what="an invitation for every participant",
            )
            await asyncio.sleep(3.0)  # a late duplicate would arrive now
    finally:
        await producer.stop()

    received = counter.snapshot()
    assert killed_at < PARTICIPANTS, "the broker died after the fan-out ended: nothing was shown"
    assert len(received) == PARTICIPANTS
    assert {address: n for address, n in received.items() if n != 1} == {}
