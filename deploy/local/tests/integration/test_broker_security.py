"""The running local stack's broker refuses what its users may not do (issue 15).

Runs against the stack of ``CRM_STACK_DIR`` (``make test`` starts it), logging in as each user
with the passwords in its state dir. Nothing here writes to a service topic: every write tried
on one is one the broker must refuse.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from crm_contracts.topics import BACKOFFICE as BACKOFFICE_TOPIC
from crm_contracts.topics import CAMPAIGNS, CONTACTS, NOTIFY, PROPOSALS, SERVICE_TOPICS
from crm_kit.kafka import BACKOFFICE, OPERATOR, KafkaAccess, client_options, principal_of
from crm_stack import security, stack
from crm_stack.config import StackConfig

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

OWN_TOPIC = {"contacts": CONTACTS, "campaigns": CAMPAIGNS, "proposals": PROPOSALS, "notify": NOTIFY}


@pytest.fixture(scope="module")
def cfg() -> StackConfig:
    config = StackConfig.from_env()
    if not stack.is_running(config):
        pytest.fail(
            f"the local stack of {config.state_dir} is not running: `uv run crm-stack up` "
            "(or `make test`) first",
            pytrace=False,
        )
    return config


def access(cfg: StackConfig, user: str) -> KafkaAccess:
    return security.access_of(cfg, user)


@asynccontextmanager
async def producer(who: KafkaAccess) -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(**client_options(who), acks="all", request_timeout_ms=10000)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def refused_write(who: KafkaAccess, topic: str) -> None:
    async with producer(who) as p:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(p.send_and_wait(topic, b"forged", key=b"forged"), 30)


async def read_from_start(who: KafkaAccess, topic: str, group: str | None = None) -> int:
    """Read ``topic`` from its beginning for a moment; how many records came."""
    c = AIOKafkaConsumer(
        **client_options(who),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=10000,
    )
    await c.start()
    try:
        if group is None:
            tps = [TopicPartition(topic, p) for p in range(6)]
            c.assign(tps)
            await c.seek_to_beginning(*tps)
        else:
            c.subscribe([topic])
        got = await c.getmany(timeout_ms=3000)
        return sum(len(records) for records in got.values())
    finally:
        await c.stop()


async def test_a_client_without_credentials_is_refused(cfg: StackConfig) -> None:
    anonymous = KafkaAccess(cfg.kafka_bootstrap)
    p = AIOKafkaProducer(**client_options(anonymous), request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(p.start(), 30)
    await p.stop()


async def test_a_wrong_password_is_refused(cfg: StackConfig) -> None:
    wrong = dataclasses.replace(access(cfg, principal_of("contacts")), password="not-the-one")
    p = AIOKafkaProducer(**client_options(wrong), request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(p.start(), 30)
    await p.stop()


@pytest.mark.parametrize("service", sorted(OWN_TOPIC))
async def test_a_service_cannot_write_another_services_topic(
    cfg: StackConfig, service: str
) -> None:
    who = access(cfg, principal_of(service))
    for topic in SERVICE_TOPICS:
        if topic != OWN_TOPIC[service]:
            await refused_write(who, topic)


async def test_campaigns_cannot_forge_a_client_registration(cfg: StackConfig) -> None:
    """The attack of issue 15: a ClientRegistered produced to contacts' topic by another."""
    await refused_write(access(cfg, principal_of("campaigns")), CONTACTS)


async def topic_errors(who: KafkaAccess, topics: list[str]) -> dict[str, int]:
    """The broker's answer, per topic, to ``who`` asking for its metadata: 0, or
    TOPIC_AUTHORIZATION_FAILED (29) when the user has no right on it at all (READ and WRITE
    each include DESCRIBE, so a user refused this can neither read nor write the topic)."""
    admin = AIOKafkaAdminClient(**client_options(who), request_timeout_ms=10000)
    await admin.start()
    try:
        return {str(t["topic"]): int(t["error_code"]) for t in await admin.describe_topics(topics)}
    finally:
        await admin.close()


async def test_a_service_cannot_read_a_topic_it_does_not_consume(cfg: StackConfig) -> None:
    proposals = access(cfg, principal_of("proposals"))  # consumes contacts' topic only
    denied = TopicAuthorizationFailedError.errno
    assert await topic_errors(proposals, [CONTACTS, CAMPAIGNS, NOTIFY]) == {
        CONTACTS: 0,
        CAMPAIGNS: denied,
        NOTIFY: denied,
    }
    assert await read_from_start(proposals, CAMPAIGNS) == 0


async def test_a_service_cannot_use_another_services_consumer_group(cfg: StackConfig) -> None:
    campaigns = access(cfg, principal_of("campaigns"))
    with pytest.raises(GroupAuthorizationFailedError):
        await read_from_start(campaigns, CONTACTS, group=principal_of("contacts"))


async def test_a_service_cannot_create_topics_other_than_its_dead_letters(
    cfg: StackConfig,
) -> None:
    who = access(cfg, principal_of("notify"))
    admin = AIOKafkaAdminClient(**client_options(who), request_timeout_ms=10000)
    await admin.start()
    try:
        name = f"crm.forged.{uuid.uuid4().hex[:8]}"
        response = await admin.create_topics([NewTopic(name, 1, 1)])
        codes = {topic: code for topic, code, *_ in response.topic_errors}
        assert codes == {name: TopicAuthorizationFailedError.errno}
    finally:
        await admin.close()


async def test_the_back_office_reads_every_service_topic_and_writes_only_its_inbound_one(
    cfg: StackConfig,
) -> None:
    backoffice = access(cfg, BACKOFFICE)
    assert await topic_errors(backoffice, list(SERVICE_TOPICS)) == dict.fromkeys(SERVICE_TOPICS, 0)
    for topic in SERVICE_TOPICS:
        await refused_write(backoffice, topic)
    async with producer(backoffice) as p:
        # A well-formed envelope of a type no consumer handles: they skip it.
        probe = {
            "event_id": str(uuid.uuid4()),
            "event_type": "BrokerSecurityProbe",
            "schema_version": 1,
            "occurred_at": "2026-03-02T09:30:05Z",
            "producer": "broker-security-test",
            "key": "probe",
            "payload": {},
        }
        written = await asyncio.wait_for(
            p.send_and_wait(BACKOFFICE_TOPIC, json.dumps(probe).encode(), key=b"probe"), 30
        )
        assert written.topic == BACKOFFICE_TOPIC
    # nor may a service forge what the back office says
    for service in sorted(OWN_TOPIC):
        await refused_write(access(cfg, principal_of(service)), BACKOFFICE_TOPIC)
    # in a group of its own name space (joining it raises nothing), and no other
    await read_from_start(backoffice, CONTACTS, group=f"{BACKOFFICE}-it")
    with pytest.raises(GroupAuthorizationFailedError):
        await read_from_start(backoffice, CONTACTS, group=principal_of("contacts"))


async def test_the_operator_sees_every_service_topic_and_writes_no_other_topic(
    cfg: StackConfig,
) -> None:
    operator = access(cfg, OPERATOR)
    assert await topic_errors(operator, list(SERVICE_TOPICS)) == dict.fromkeys(SERVICE_TOPICS, 0)
    async with producer(operator) as p:
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(p.send_and_wait(f"crm.forged.{uuid.uuid4().hex[:8]}", b"x"), 30)


async def test_the_operator_cannot_create_topics(cfg: StackConfig) -> None:
    admin = AIOKafkaAdminClient(**client_options(access(cfg, OPERATOR)), request_timeout_ms=10000)
    await admin.start()
    try:
        name = f"crm.forged.{uuid.uuid4().hex[:8]}"
        response = await admin.create_topics([NewTopic(name, 1, 1)])
        assert {t: c for t, c, *_ in response.topic_errors} == {
            name: TopicAuthorizationFailedError.errno
        }
    finally:
        await admin.close()


def test_the_passwords_are_the_owners_alone_and_kept(cfg: StackConfig) -> None:
    mode = cfg.kafka_users_file.stat().st_mode & 0o777
    assert mode == 0o600
    assert (cfg.server_properties.stat().st_mode & 0o777) == 0o600
    before = security.ensure_passwords(cfg)
    assert set(before) == set(security.principals())
    assert all(p.startswith("dev-only-") and len(p) > 40 for p in before.values())
    assert security.ensure_passwords(cfg) == before
