"""The four services (and the local mail catcher) as separate processes on the real stack, and
what the end-to-end tests share: tokens, answers, waiting, the mail catcher, the raw topics."""

from __future__ import annotations

import dataclasses
import email
import email.header
import email.message
import os
import shutil
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from crm_kit.auth import sign_token
from crm_kit.sealing import opened_payload
from crm_kit.settings import ServiceSettings
from crm_kit.testing import StackEndpoints, eventually, forget_groups_blocking
from crm_kit.tokens import keygen
from crm_stack import services
from crm_stack.config import StackConfig
from pymongo import MongoClient


@dataclasses.dataclass(frozen=True)
class Processes:
    state_dir: Path
    private_key: Path

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail" / "new"


@pytest.fixture(scope="module")
def processes(
    stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    state = tmp_path_factory.mktemp("e2e-state")
    keygen(state / "keys")
    stack_cfg = StackConfig.from_env()
    cfg = dataclasses.replace(stack_cfg, state_dir=state)
    # The broker's users (one per service) are the stack's: the processes log in as them.
    cfg.keys_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stack_cfg.kafka_users_file, cfg.kafka_users_file)
    # Fresh consumer groups that start at the topics' end: the processes take only what happens
    # from now on, whatever a long-lived stack's groups have still to catch up on.
    run = uuid.uuid4().hex[:8]
    env = {"CRM_CONSUMER_START_AT_END": "true", "CRM_LOG_LEVEL": "WARNING"}
    # Own databases too, so a long-lived stack's leftovers (retries due, say) play no part.
    names = ("contacts", "campaigns", "proposals", "notify")
    for name in names:
        # Named in the service's own group space: each runs as its own Kafka user.
        env[f"CRM_{name.upper()}_CONSUMER_GROUP"] = f"crm-{name}-e2e-{run}"
        env[f"CRM_{name.upper()}_MONGO_DATABASE"] = f"e2e_{name}_{run}"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        services.up(cfg, say=lambda _: None)
        yield Processes(state, state / "keys" / "jwt-private.pem")
    finally:
        services.down(cfg, say=lambda _: None)
        forget_groups_blocking(stack.kafka_bootstrap, (f"crm-{name}-e2e-{run}" for name in names))
        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
        try:
            for name in names:
                client.drop_database(f"e2e_{name}_{run}")
        finally:
            client.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


CONTACTS = "http://127.0.0.1:8001"
CAMPAIGNS = "http://127.0.0.1:8002"
PROPOSALS = "http://127.0.0.1:8003"
NOTIFY = "http://127.0.0.1:8004"
WITHIN = 90.0
WORK_SCOPES = (
    "contacts:read",
    "contacts:write",
    "campaigns:read",
    "campaigns:write",
    "proposals:read",
    "proposals:write",
    "notify:read",
)
"""What an internal app doing the staff's everyday work asks for."""


def token(
    processes: Processes,
    *scopes: str,
    roles: tuple[str, ...] = ("integration",),
    subject: str = "e2e-cycle",
) -> str:
    """A development token signed with the processes' key."""
    return sign_token(
        processes.private_key.read_bytes(),
        subject=subject,
        roles=roles,
        scopes=scopes,
        issuer="crm-local",
        audience="crm",
    )


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The answer's JSON, once its status is the one expected (else the answer, to read)."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}: "
        f"{response.text}"
    )
    return response.json() if response.content else None


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    return await eventually(check, within=WITHIN, interval=0.5, what=what)


def _decoded(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def _text(message: email.message.Message) -> str:
    parts = []
    for part in message.walk():
        if part.get_content_maintype() == "text":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                parts.append(payload.decode(part.get_content_charset() or "utf-8"))
    return "\n".join(parts)


def mail(processes: Processes) -> list[tuple[str, str, str]]:
    """(to, subject, text) of every message in the catcher's Maildir."""
    found = []
    for path in sorted(processes.mail_dir.iterdir()):
        message = email.message_from_bytes(path.read_bytes())
        found.append((str(message["To"]), _decoded(str(message["Subject"])), _text(message)))
    return found


def mail_to(processes: Processes, address: str) -> list[tuple[str, str]]:
    return [(subject, text) for to, subject, text in mail(processes) if address in to]


async def unsealed(stack: StackEndpoints, envelope: dict[str, Any]) -> dict[str, Any]:
    """A raw envelope's payload opened with the key vault the processes share, as a consumer
    with the vault's key (a back office given KMS access) reads it."""
    return await opened_payload(envelope, ServiceSettings(mongo_uri=stack.mongo_uri))
