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
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CONTACTS
from crm_kit.testing import JwtKeys, StackEndpoints, bearer, end_offsets, read_topic, service_env
from pymongo import AsyncMongoClient

CALLERS = 12
REGISTRATIONS = 160
KILL_AFTER = 60


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServiceProcess:
    """One service run as a separate process with settings from the environment."""

    def __init__(self, name: str, settings: dict[str, str], log: Path) -> None:
        self.name = name
        self.port = _free_port()
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
def contacts_process(
    stack: StackEndpoints, jwt_keys: JwtKeys, tmp_path: Path
) -> Iterator[ServiceProcess]:
    settings = service_env(stack, jwt_keys, "contacts", log_level="WARNING", log_json="true")
    service = ServiceProcess("contacts", settings, tmp_path / "contacts.log")
    try:
        yield service
    finally:
        service.stop()


async def test_a_killed_service_loses_no_accepted_write_and_no_event(
    stack: StackEndpoints, jwt_keys: JwtKeys, contacts_process: ServiceProcess
) -> None:
    service = contacts_process
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
        within=120,
        stop_when=lambda rs: registered(rs) >= stored,
    )
    published = registered(records)
    assert stored - published == set(), f"stored without an event: {sorted(stored - published)}"
    assert published - stored == set(), f"an event without a stored client: {published - stored}"
