"""Fault-injection helpers: services run as separate processes that a test can kill."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses, ChannelConsent
from crm_contracts.contacts import PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.values import Channel, Language
from crm_kit.testing import (
    CountingSmtp,
    JwtKeys,
    StackEndpoints,
    forget_groups_blocking,
    free_port,
    service_env,
    smtp_server,
)


class ServiceProcess:
    """One service run as a separate process with settings from the environment."""

    def __init__(self, name: str, settings: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = free_port()
        prefix = f"CRM_{name.upper()}_"
        self.env = {**os.environ, **{prefix + k.upper(): v for k, v in settings.items()}}
        self.env[prefix + "HTTP_PORT"] = str(self.port)
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        script = Path(sys.executable).parent / f"crm-{self.name}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(script)], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"{self.name} exited; see {self.log}"
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not become ready; see {self.log}")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


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
def smtp() -> Iterator[tuple[CountingSmtp, int]]:
    handler = CountingSmtp(f"@{uuid.uuid4().hex[:8]}.recovery.test")
    with smtp_server(handler) as port:
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
