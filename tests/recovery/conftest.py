"""Fault-injection helpers: services run as separate processes that a test can kill."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_campaigns.app import CampaignsSettings
from crm_campaigns.app import create as create_campaigns
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses, ChannelConsent
from crm_contracts.contacts import ClientRegistered, ClientSource, PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    Language,
    RecipientKind,
)
from crm_kit.smtp_sink import sink_server
from crm_kit.testing import (
    CountingSmtp,
    JwtKeys,
    ServiceProcess,
    StackEndpoints,
    bearer,
    eventually,
    forget_groups_blocking,
    http_client,
    running,
    service_env,
    smtp_server,
    stack_kafka_options,
)
from crm_notify.app import create as create_notify
from crm_notify.repository import recipient_key
from crm_notify.settings import NotifySettings
from crm_stack import stack as local_stack
from crm_stack.config import StackConfig


@pytest.fixture
def service_process(
    stack: StackEndpoints, jwt_keys: JwtKeys, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """Make a service process (own database and consumer group, a free port); stopped after,
    and then its group forgotten (its dead-letter topics and offsets)."""
    made: list[ServiceProcess] = []
    groups: list[str] = []

    def make(name: str, **overrides: str) -> ServiceProcess:
        settings = service_env(
            stack, jwt_keys, name, log_level="WARNING", log_json="true", **overrides
        )
        service = ServiceProcess(name, settings, tmp_path / f"{name}.log")
        made.append(service)
        if "consumer_group" not in overrides:  # only a group of the test's own
            groups.append(settings["consumer_group"])
        return service

    try:
        yield make
    finally:
        for service in made:
            service.stop()
        forget_groups_blocking(stack.kafka_bootstrap, groups)


@pytest.fixture
def smtp(request: pytest.FixtureRequest) -> Iterator[tuple[CountingSmtp, int]]:
    """A counting SMTP server: aiosmtpd (notify sends with DATA), or with the parameter "lean"
    the benches' lean server (``crm_kit.smtp_sink``: it offers CHUNKING, so notify sends with
    BDAT, as to Postfix, Exim or Exchange)."""
    handler = CountingSmtp(f"@{uuid.uuid4().hex[:8]}.recovery.test")
    if getattr(request, "param", "aiosmtpd") == "lean":
        server = sink_server(handler.count_message)
    else:
        server = smtp_server(handler)
    with server as port:
        yield handler, port


class FanOut:
    """People with e-mail consent, as contacts publishes them, and a bulk publisher."""

    @staticmethod
    def people(domain: str, client_id: str, count: int) -> list[PersonAdded]:
        at = datetime.now(UTC) - timedelta(minutes=1)
        return [
            PersonAdded(
                client_id=client_id,
                person_id=str(uuid.uuid4()),
                name=f"Guest {n}",
                language=Language.EN,
                channels=ChannelAddresses(email=f"guest{n}{domain}"),
                preferred_channel=Channel.EMAIL,
                version=1,
                consents=(
                    ChannelConsent(channel=Channel.EMAIL, granted=True, at=at, source="test"),
                ),
                added_at=at,
            )
            for n in range(count)
        ]

    @staticmethod
    async def publish(producer: AIOKafkaProducer, events: Sequence[ContractEvent]) -> None:
        sent = []
        for event in events:
            envelope = Envelope.wrap(event, producer="recovery-test")
            sent.append(
                await producer.send(event.topic, envelope.to_bytes(), key=envelope.key.encode())
            )
        await asyncio.gather(*sent)

    @staticmethod
    async def known(collection: Any, ids: Sequence[str]) -> int:
        """How many of ``ids`` a projection holds. Counted by ``_id`` (in chunks), not in all:
        other producers on a shared stack add their own people to the same projection."""
        found = 0
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found += await collection.count_documents({"_id": {"$in": chunk}})
        return found


@pytest.fixture
def fan_out() -> FanOut:
    return FanOut()


class LocalStack:
    """The crm-stack the tests run on, whose broker or store a test kills and restarts."""

    def __init__(self, cfg: StackConfig) -> None:
        self.cfg = cfg

    def pid(self, part: str) -> int | None:
        if part == "broker":
            return local_stack.broker_pid(self.cfg)
        assert part == "store", part
        return local_stack.store_pid(self.cfg)

    async def kill_and_restart(self, part: str, outage_s: float) -> None:
        """SIGKILL the part, wait ``outage_s``, and start it again (`crm-stack up`)."""
        pid = self.pid(part)
        assert pid is not None, f"the {part} does not run"
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(outage_s)
        await asyncio.to_thread(local_stack.up, self.cfg, say=lambda _: None)


@pytest.fixture
def local_parts(stack: StackEndpoints) -> Iterator[LocalStack]:
    """The local stack's broker and store to kill; whatever happens, both run again afterwards."""
    cfg = StackConfig.from_env()
    assert (cfg.kafka_bootstrap, cfg.mongo_uri) == (stack.kafka_bootstrap, stack.mongo_uri), (
        f"the tests use {stack.kafka_bootstrap} and {stack.mongo_uri} but crm-stack's settings "
        f"name {cfg.kafka_bootstrap} and {cfg.mongo_uri}: set the same CRM_STACK_* variables"
    )
    parts = LocalStack(cfg)
    for part in ("broker", "store"):
        assert parts.pid(part) is not None, f"the {part} was not started by crm-stack"
    try:
        yield parts
    finally:
        if not local_stack.is_running(cfg):
            local_stack.up(cfg, say=lambda _: None)


def wait_bound(participants: int, floor_s: float) -> float:
    """A wait's upper bound: ``floor_s`` at the suite's count, growing with a larger one."""
    return max(floor_s, participants * 0.1)


FanOutRun = Callable[..., Awaitable[tuple[dict[str, int], int]]]


@pytest.fixture
def fan_out_through(
    stack: StackEndpoints, jwt_keys: JwtKeys, smtp: tuple[Any, int], fan_out: FanOut
) -> FanOutRun:
    """``await fan_out_through(fault, participants=N, kill_at=K)``: see fan_out_through_a_fault."""

    async def run(
        fault: Callable[[], Awaitable[None]],
        *,
        participants: int,
        kill_at: int,
        notify_settings: dict[str, Any] | None = None,
    ) -> tuple[dict[str, int], int]:
        return await fan_out_through_a_fault(
            stack,
            jwt_keys,
            smtp,
            fan_out,
            fault,
            participants=participants,
            kill_at=kill_at,
            notify_settings=notify_settings,
        )

    return run


async def fan_out_through_a_fault(
    stack: StackEndpoints,
    jwt_keys: JwtKeys,
    smtp: tuple[Any, int],
    fan_out: FanOut,
    fault: Callable[[], Awaitable[None]],
    *,
    participants: int,
    kill_at: int,
    notify_settings: dict[str, Any] | None = None,
) -> tuple[dict[str, int], int]:
    """An invitation run for ``participants`` people through campaigns and notify (in this
    process, on the real stack, the people arriving as contacts' events), with ``fault``
    awaited once ``kill_at`` messages have reached the SMTP server. Returns how many messages
    each address received, once every participant has one, and how many had arrived when the
    fault struck."""
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
    people = fan_out.people(counter.domain, client_id, participants)
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
                **(notify_settings or {}),
            )
        )
    )
    headers = bearer(jwt_keys, "campaigns:read", "campaigns:write")
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        async with (
            running(campaigns),
            running(notify),
            http_client(campaigns, conformance=True) as http,
        ):
            await fan_out.publish(producer, [client, *people])
            cdb, ndb = campaigns.state.runtime.db, notify.state.runtime.db

            async def projections_hold_everyone() -> bool:
                return (
                    await fan_out.known(cdb["people_projection"], person_ids) == participants
                    and await fan_out.known(ndb["recipients"], recipient_keys) == participants
                )

            await eventually(
                projections_hold_everyone,
                within=wait_bound(participants, 120),
                what="both projections",
            )

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

            deadline = time.monotonic() + wait_bound(participants, 180)
            while sum(counter.snapshot().values()) < kill_at:
                assert time.monotonic() < deadline, f"only {counter.snapshot().total()} sent"
                await asyncio.sleep(0.05)
            killed_at = sum(counter.snapshot().values())
            await fault()

            await eventually(
                lambda: len(counter.snapshot()) == participants,
                within=wait_bound(participants, 240),
                what="an invitation for every participant",
            )
            await asyncio.sleep(3.0)  # a late duplicate would arrive now
    finally:
        await producer.stop()

    return dict(counter.snapshot()), killed_at
