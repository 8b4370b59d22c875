"""Pytest fixtures for integration tests on the real broker and store.

Endpoints come from the environment first (``CRM_KAFKA_BOOTSTRAP``, ``CRM_MONGO_URI``, set by
``make test`` from the local stack), then from testcontainers when a Docker engine answers a
ping, and otherwise the test FAILS with a message saying how to provide them: an integration
test never passes, or is skipped, having tested nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from crm_kit.kafka import KafkaAccess, broker_options, client_options

log = logging.getLogger(__name__)

HOW_TO = (
    "run the tests with `make test` (it starts the local stack), or start it with "
    "`uv run crm-stack up` and export `uv run crm-stack env`, or provide a Docker engine"
)


@dataclass(frozen=True)
class StackEndpoints:
    kafka_bootstrap: str
    mongo_uri: str


@dataclass(frozen=True)
class JwtKeys:
    private_pem: bytes
    public_pem: bytes
    public_file: Path
    issuer: str = "crm-test"
    audience: str = "crm"


def _docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


class StackUnavailable(RuntimeError):
    """Neither endpoints in the environment nor a Docker engine: integration tests cannot run."""


def stack_kafka_options(bootstrap: str) -> dict[str, Any]:
    """Keyword arguments for an aiokafka client (admin, consumer, producer) of a test, bench or
    script, connecting to ``bootstrap`` with the stack's credentials: ``CRM_KAFKA_*`` as
    ``crm-stack env`` exports them (the stack's admin user), PLAINTEXT when none are set (a
    testcontainers broker). Every direct client outside the services goes through this or
    :func:`stack_kafka_broker`: ``AIOKafkaProducer(**stack_kafka_options(bootstrap), acks="all")``.
    """
    return client_options(KafkaAccess.from_env(bootstrap=bootstrap))


def stack_kafka_broker(bootstrap: str, **options: Any) -> Any:
    """A FastStream ``KafkaBroker`` on ``bootstrap`` with the stack's credentials (as
    :func:`stack_kafka_options`); ``options`` go to the broker (``acks``, ``client_id``…)."""
    from faststream.kafka import KafkaBroker

    return KafkaBroker(**broker_options(KafkaAccess.from_env(bootstrap=bootstrap)), **options)


def endpoints_from_env(environ: Mapping[str, str]) -> StackEndpoints | None:
    kafka = environ.get("CRM_KAFKA_BOOTSTRAP")
    mongo = environ.get("CRM_MONGO_URI")
    return StackEndpoints(kafka, mongo) if kafka and mongo else None


def unavailable_message() -> str:
    return (
        "integration tests need Kafka and a MongoDB-compatible server: CRM_KAFKA_BOOTSTRAP "
        f"and CRM_MONGO_URI are not set and no Docker engine answers; {HOW_TO}"
    )


@pytest.fixture(scope="session")
def stack() -> Iterator[StackEndpoints]:
    from_env = endpoints_from_env(os.environ)
    if from_env is not None:
        yield from_env
        return
    if _docker_answers():
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mongodb import MongoDbContainer

        with KafkaContainer().with_kraft() as k, MongoDbContainer("mongo:7") as m:
            yield StackEndpoints(k.get_bootstrap_server(), m.get_connection_url())
        return
    pytest.fail(unavailable_message(), pytrace=False)


def new_jwt_keys(folder: Path) -> JwtKeys:
    """A fresh RSA-2048 pair; the public key is written to ``folder/jwt-public.pem``, where
    a service under test reads it (tests and benches sign their tokens with the private one)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    public_file = folder / "jwt-public.pem"
    public_file.write_bytes(public_pem)
    return JwtKeys(private_pem, public_pem, public_file)


@pytest.fixture(scope="session")
def jwt_keys(tmp_path_factory: pytest.TempPathFactory) -> JwtKeys:
    return new_jwt_keys(tmp_path_factory.mktemp("jwt"))


def unique(prefix: str) -> str:
    """A name no earlier run used: test databases and consumer groups stay apart."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def service_env(
    stack: StackEndpoints, keys: JwtKeys, service: str, **overrides: Any
) -> dict[str, str]:
    """Settings for one service instance under test, isolated in its own database and group.

    The group is the test's own (unless ``consumer_group`` is overridden): ``running`` deletes
    its dead-letter topics and committed offsets once the app has stopped.
    """
    group = unique(f"test-{service}")
    env = {
        "environment": "test",
        "mongo_uri": stack.mongo_uri,
        "kafka_bootstrap": stack.kafka_bootstrap,
        "mongo_database": unique(f"test_{service}"),
        "consumer_group": group,
        "jwt_public_key_file": str(keys.public_file),
        "jwt_issuer": keys.issuer,
        "jwt_audience": keys.audience,
        # A test needs what it publishes itself, not the history of a long-lived stack.
        "consumer_start_at_end": "true",
        "relay_lease_s": "3",
        "consumer_retry_backoff_ms": "20",
        "log_json": "false",
    }
    env.update({k: str(v) for k, v in overrides.items()})
    if env["consumer_group"] == group:
        _GROUPS_MADE.add(group)
    return env


_GROUPS_MADE: set[str] = set()
"""Consumer groups ``service_env`` made: the only ones ``running`` forgets by itself, so that a
test run with a shared group's name (``crm-contacts``, say) never deletes that group's letters."""


@pytest.fixture
async def mongo_db(stack: StackEndpoints) -> AsyncIterator[Any]:
    """A fresh database on the real server, dropped afterwards."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        stack.mongo_uri, tz_aware=True, uuidRepresentation="standard"
    )
    name = unique("test_kit")
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def eventually(
    check: Any, *, within: float = 30.0, interval: float = 0.1, what: str = "condition"
) -> Any:
    """Poll ``check`` (sync or async, returning a truthy value) until it holds or time runs out.

    A bounded wait for something asynchronous to happen; the test then asserts exact values.
    """
    import asyncio
    import inspect
    import time

    deadline = time.monotonic() + within
    last: Any = None
    while True:
        last = check()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {within:.0f}s (last: {last!r})")
        await asyncio.sleep(interval)


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    since: dict[int, int] | None = None,
    until_idle: float = 2.0,
    within: float = 60.0,
    stop_when: Any = None,
) -> list[Any]:
    """Every record on ``topic`` from the offsets ``since`` (default: the beginning).

    Reads until ``stop_when(records)`` holds and then until the topic is idle for
    ``until_idle`` seconds, so a duplicate published later than the wanted records is seen too.
    """
    import asyncio
    import time

    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**stack_kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
        consumer.assign(tps)
        for tp in tps:
            if since is not None and tp.partition in since:
                consumer.seek(tp, since[tp.partition])
            else:
                await consumer.seek_to_beginning(tp)
        records: list[Any] = []
        deadline = time.monotonic() + within
        idle_since = time.monotonic()
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            got = [r for rs in batch.values() for r in rs]
            if got:
                records.extend(got)
                idle_since = time.monotonic()
            satisfied = stop_when is None or stop_when(records)
            if satisfied and time.monotonic() - idle_since >= until_idle:
                break
            await asyncio.sleep(0)
        return records
    finally:
        await consumer.stop()


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """The current end offset of every partition of ``topic``."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(**stack_kafka_options(bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(bootstrap, topic)]
        ends = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The offsets ``group`` committed on ``topic``'s partitions (those it committed at all)."""
    async with _admin(bootstrap) as admin:
        found = await admin.list_consumer_group_offsets(group)
    return {tp.partition: meta.offset for tp, meta in found.items() if tp.topic == topic}


async def consumed_up_to(bootstrap: str, group: str, topic: str, ends: dict[int, int]) -> bool:
    """Whether ``group`` committed at least ``ends`` on each of those partitions of ``topic``
    (a consumer of the kit commits once a batch was handled: everything before is done)."""
    done = await committed_offsets(bootstrap, group, topic)
    return all(done.get(partition, 0) >= end for partition, end in ends.items())


@contextlib.asynccontextmanager
async def running(
    app: Any, *, drop_database: bool = True, forget_group: bool = True
) -> AsyncIterator[Any]:
    """Run an app's lifespan (store, broker, relay, consumers) around a block.

    Afterwards its test database is dropped, only once the app has stopped (a running app would
    write to it again: its relay's lease, its consumers' markers). Its consumer group, if
    ``service_env`` made it, is forgotten too (:func:`forget_groups`: the dead-letter topics
    the kit created at start-up and the committed offsets), also when the block failed: on a
    long-lived broker they would otherwise pile up by the thousand. A test that runs the same
    settings again afterwards (a restart) passes ``forget_group=False`` to the first run.
    """
    try:
        async with app.router.lifespan_context(app):
            yield app
    finally:
        if forget_group:
            await forget_groups(app.state.settings.kafka_bootstrap, _own_groups_of(app))
    if drop_database:
        from pymongo import AsyncMongoClient

        settings = app.state.settings
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(settings.mongo_uri)
        try:
            await client.drop_database(settings.mongo_database)
        finally:
            await client.close()


def _own_groups_of(app: Any) -> set[str]:
    """The app's consumer group if it consumes at all and ``service_env`` made the group."""
    group = app.state.settings.consumer_group
    consumes = bool(list(app.state.broker.subscribers))
    return {group} if consumes and group in _GROUPS_MADE else set()


@contextlib.asynccontextmanager
async def _admin(bootstrap: str) -> AsyncIterator[Any]:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    try:
        await admin.start()
        yield admin
    finally:
        await admin.close()


async def _delete_topics(admin: Any, names: list[str]) -> None:
    """Ask the controller to delete ``names``; it answers once they are gone from the topic list
    and removes their files later on its own. A topic already gone is no error."""
    from aiokafka.errors import UnknownTopicOrPartitionError, for_code

    if not names:
        return
    response = await admin.delete_topics(names)
    for topic, code in response.topic_error_codes:
        if code and code != UnknownTopicOrPartitionError.errno:
            log.warning("test topic %s not deleted: %s", topic, for_code(code).__name__)


async def delete_topics(bootstrap: str, names: Iterable[str]) -> None:
    """Delete topics a test made (see :class:`FreshTopics`), without waiting for the broker to
    remove their files. One already gone is fine; any other failure is logged as a warning, not
    raised, so that cleaning up never fails a test that passed. The services' own topics are
    refused: the broker may be the team's long-lived one."""
    from crm_contracts.topics import TOPICS

    wanted = sorted(set(names))
    shared = [n for n in wanted if n in TOPICS or n.startswith("__")]
    if shared:
        raise ValueError(f"refusing to delete shared topics {shared}")
    if not wanted:
        return
    try:
        async with _admin(bootstrap) as admin:
            await _delete_topics(admin, wanted)
    except Exception:
        log.warning("could not delete test topics %s", wanted, exc_info=True)


async def forget_groups(bootstrap: str, groups: Iterable[str]) -> None:
    """Delete what a test's consumer groups leave on the broker once their consumers stopped:
    their dead-letter topics (``<topic>.dlq.<group>``, which the kit creates at start-up for every
    consumed topic) and their committed offsets. Only for groups a test made for itself.

    Failures are logged as warnings, not raised (as :func:`delete_topics`); a group that committed
    nothing, or topics already gone, are no failure.
    """
    from aiokafka.errors import GroupIdNotFound, for_code
    from aiokafka.protocol.admin import DeleteGroupsRequest
    from crm_contracts.topics import dead_letter_topic

    wanted = sorted(set(groups))
    if not wanted:
        return
    # Whatever topic a group consumed, its dead-letter topic ends the same way.
    endings = tuple(dead_letter_topic("", g) for g in wanted)
    try:
        async with _admin(bootstrap) as admin:
            letters = [t for t in await admin.list_topics() if t.endswith(endings)]
            await _delete_topics(admin, sorted(letters))
            # aiokafka's admin client has no call for the broker's DeleteGroups request: it is
            # sent as is to each group's coordinator (one node on the local stack).
            by_node: dict[int, list[str]] = {}
            for group in wanted:
                by_node.setdefault(await admin.find_coordinator(group), []).append(group)
            for node, node_groups in by_node.items():
                response = await admin._send_request(DeleteGroupsRequest(node_groups), node)
                for group, code in response.results:
                    if code and code != GroupIdNotFound.errno:
                        log.warning("test group %s not deleted: %s", group, for_code(code).__name__)
    except Exception:
        log.warning("could not clean up after test groups %s", wanted, exc_info=True)


def forget_groups_blocking(bootstrap: str, groups: Iterable[str]) -> None:
    """:func:`forget_groups` for a synchronous fixture (services run as processes). It runs in a
    thread of its own: the event loop that pytest-asyncio keeps for the session is left alone."""
    wanted = list(groups)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, forget_groups(bootstrap, wanted)).result()


class FreshTopics:
    """Topics of one test, under names no earlier run used, deleted when it is done.

    ``name`` gives a fresh name and ``adopt`` takes a name derived from one (its dead-letter
    topic, say): both are deleted at the end whether the test created them (``create``), a
    producer's auto-creation did, or nothing did.
    """

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.names: list[str] = []

    def name(self, prefix: str) -> str:
        return self.adopt(unique(prefix))

    def adopt(self, name: str) -> str:
        if name not in self.names:
            self.names.append(name)
        return name

    async def create(self, *names: str, partitions: int = 1) -> None:
        from aiokafka.admin import NewTopic
        from aiokafka.errors import for_code

        for name in names:
            self.adopt(name)
        async with _admin(self.bootstrap) as admin:
            response = await admin.create_topics(
                [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names]
            )
        errors = response.topic_errors
        failed = {topic: for_code(code).__name__ for topic, code, *_ in errors if code}
        if failed:
            raise RuntimeError(f"topics not created: {failed}")

    async def __aenter__(self) -> FreshTopics:
        return self

    async def __aexit__(self, *_: object) -> None:
        await delete_topics(self.bootstrap, self.names)


@pytest.fixture
async def fresh_topics(stack: StackEndpoints) -> AsyncIterator[FreshTopics]:
    """The test's own topics (:class:`FreshTopics`), deleted after it."""
    async with FreshTopics(stack.kafka_bootstrap) as topics:
        yield topics


def http_client(app: Any, *, conformance: bool = False) -> Any:
    """An httpx client speaking to ``app`` in process (the lifespan is run separately).

    With ``conformance``, every response is checked against the app's own OpenAPI document
    (``crm_kit.conformance``): one whose status, headers or body the document does not declare
    raises ``Undeclared`` from the call that received it.
    """
    import httpx

    from crm_kit.conformance import RouteRecorder, response_checker

    return httpx.AsyncClient(
        transport=httpx.ASGITransport(
            app=RouteRecorder(app) if conformance else app, raise_app_exceptions=False
        ),
        base_url="http://test",
        event_hooks={"response": [response_checker(app)]} if conformance else None,
    )


def bearer(
    keys: JwtKeys,
    *scopes: str,
    subject: str = "test-app",
    roles: tuple[str, ...] = ("integration",),
    **kw: Any,
) -> dict[str, str]:
    """An ``Authorization`` header for a development token: by default an internal app
    (role ``integration``) holding ``scopes``; pass ``roles`` and ``employee_id`` for a person."""
    from crm_kit.auth import sign_token

    token = sign_token(
        keys.private_pem,
        roles=roles,
        subject=subject,
        scopes=scopes,
        issuer=kw.pop("issuer", keys.issuer),
        audience=kw.pop("audience", keys.audience),
        **kw,
    )
    return {"Authorization": f"Bearer {token}"}


async def partitions_of(bootstrap: str, topic: str) -> list[int]:
    """The partition numbers of ``topic`` (empty if it does not exist)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(**stack_kafka_options(bootstrap))
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        p["partition"] for t in described if t.get("topic") == topic for p in t["partitions"]
    )


def client_registered(name: str = "Test client") -> Any:
    """A fresh ``ClientRegistered`` (new client id, now), for tests that need some event."""
    from datetime import UTC, datetime

    from crm_contracts.contacts import ClientRegistered, ClientSource
    from crm_contracts.values import ClientKind, ClientSourceKind, ClientStatus

    return ClientRegistered(
        client_id=str(uuid.uuid4()),
        kind=ClientKind.ORGANISATION,
        name=name,
        status=ClientStatus.POTENTIAL,
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=1,
        registered_at=datetime.now(UTC),
    )


def free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class CountingSmtp:
    """Counts the messages to each address ending in ``domain`` (others are accepted, not
    counted), so that a run sees who got a message and who got it twice: an aiosmtpd handler
    that accepts every message, or the counter of the benches' lean server
    (``crm_kit.smtp_sink``, told each message's recipients through :meth:`count_message`).
    ``first_at`` is when the first counted one arrived and, with ``expected``, ``all_at`` when
    that many distinct addresses had one (``time.monotonic``)."""

    def __init__(self, domain: str, expected: int | None = None) -> None:
        self.domain = domain
        self.expected = expected
        self.count = 0
        """Messages counted, one per matching recipient."""
        self.received: Counter[str] = Counter()
        """Messages per matching recipient address."""
        self.first_at: float | None = None
        self.all_at: float | None = None
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count_message(envelope.rcpt_tos)
        return "250 OK"

    def count_message(self, rcpt_tos: Iterable[str]) -> None:
        """Count one message taken for ``rcpt_tos`` (aiosmtpd's hook above, or the benches'
        lean server, ``crm_kit.smtp_sink``)."""
        with self.lock:
            for rcpt in rcpt_tos:
                if rcpt.endswith(self.domain):
                    self.count += 1
                    self.received[rcpt] += 1
                    if self.first_at is None:
                        self.first_at = time.monotonic()
                    done = self.expected is not None and len(self.received) >= self.expected
                    if done and self.all_at is None:
                        self.all_at = time.monotonic()

    def snapshot(self) -> Counter[str]:
        """A copy of the messages per address so far."""
        with self.lock:
            return Counter(self.received)


class OffersPipelining:
    """A mix-in for an aiosmtpd handler: its EHLO reply offers PIPELINING (RFC 2920). aiosmtpd
    reads pipelined commands in order and answers each, but does not say it can."""

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's hook name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


class MailSink:
    """An aiosmtpd handler that accepts every message and keeps it, parsed, for a test to read."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(bytes(envelope.original_content), policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        """The messages whose ``To`` is ``address``."""
        with self.lock:
            return [m for m in self.messages if str(m["To"]) == address]

    def to_domain(self, domain: str) -> list[EmailMessage]:
        """The messages whose ``To`` ends in ``domain``."""
        with self.lock:
            return [m for m in self.messages if str(m["To"]).endswith(domain)]


@pytest.fixture
def mail() -> Iterator[tuple[MailSink, int]]:
    """A :class:`MailSink` served on a loopback SMTP port: ``(sink, port)``."""
    sink = MailSink()
    with smtp_server(sink) as port:
        yield sink, port


@contextlib.contextmanager
def smtp_server(handler: Any, **options: Any) -> Iterator[int]:
    """Serve ``handler`` (an aiosmtpd handler such as :class:`CountingSmtp`) on a free loopback
    port, in a thread of its own, for the block; yields the port. ``options`` go to aiosmtpd's
    ``Controller`` (``ssl_context`` for implicit TLS, ``tls_context``, ``authenticator``…)."""
    from aiosmtpd.controller import Controller

    port = free_port()
    options.setdefault("server_hostname", "localhost")
    controller = Controller(handler, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


class ServiceProcess:
    """One service run as a separate process (its ``crm-<name>`` script beside this Python) with
    ``settings`` as its ``CRM_<NAME>_*`` environment, on a free port: the recovery tests kill
    it, the benches read its CPU from /proc."""

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

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} was not started"
        return self.proc.pid

    def start(self) -> None:
        script = Path(sys.executable).parent / f"crm-{self.name}"
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our own script
                [str(script)], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        import httpx

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
