"""The ``stack`` fixture's order: endpoints from the environment, else testcontainers when a
Docker engine answers a ping, else a failure saying how to provide a stack (never a skip)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from crm_kit import testing
from crm_kit.testing import StackEndpoints, unavailable_message

start_stack: Callable[[], Iterator[StackEndpoints]] = testing.stack.__wrapped__  # type: ignore[attr-defined]
"""The fixture's own generator, driven here by hand."""


@pytest.fixture(autouse=True)
def _no_stack_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRM_KAFKA_BOOTSTRAP", "CRM_MONGO_URI"):
        monkeypatch.delenv(name, raising=False)


class _Container:
    """Stands in for a testcontainers container: records entry and exit."""

    log: list[str] = []

    def __init__(self, image: str = "default") -> None:
        self.image = image

    def with_kraft(self) -> _Container:
        self.log.append("kafka with kraft")
        return self

    def __enter__(self) -> _Container:
        self.log.append(f"started {type(self).__name__}")
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append(f"stopped {type(self).__name__}")


class FakeKafka(_Container):
    def get_bootstrap_server(self) -> str:
        return "container-kafka:9093"


class FakeMongo(_Container):
    def get_connection_url(self) -> str:
        return f"mongodb://container-mongo/{self.image}"


def _docker(answers: bool) -> Callable[[], bool]:
    def ask() -> bool:
        _Container.log.append("docker pinged")
        return answers

    return ask


def test_endpoints_in_the_environment_come_first(monkeypatch: pytest.MonkeyPatch) -> None:
    _Container.log = []
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "env-kafka:9092")
    monkeypatch.setenv("CRM_MONGO_URI", "mongodb://env-mongo")
    monkeypatch.setattr(testing, "_docker_answers", _docker(True))
    assert next(start_stack()) == StackEndpoints("env-kafka:9092", "mongodb://env-mongo")
    assert _Container.log == []  # Docker was not even asked


def test_a_docker_engine_that_answers_gets_kafka_and_mongo_containers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import testcontainers.community.kafka
    import testcontainers.community.mongodb

    _Container.log = []
    monkeypatch.setattr(testing, "_docker_answers", _docker(True))
    monkeypatch.setattr(testcontainers.community.kafka, "KafkaContainer", FakeKafka)
    monkeypatch.setattr(testcontainers.community.mongodb, "MongoDbContainer", FakeMongo)
    session = start_stack()
    assert next(session) == StackEndpoints(
        "container-kafka:9093", "mongodb://container-mongo/mongo:7"
    )
    assert _Container.log == [
        "docker pinged",
        "kafka with kraft",
        "started FakeKafka",
        "started FakeMongo",
    ]
    with pytest.raises(StopIteration):
        next(session)  # the session ends: both containers stop
    assert _Container.log[-2:] == ["stopped FakeMongo", "stopped FakeKafka"]


def test_without_endpoints_or_docker_the_test_fails_and_is_not_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(testing, "_docker_answers", _docker(False))
    with pytest.raises(pytest.fail.Exception) as failure:
        next(start_stack())
    assert not isinstance(failure.value, pytest.skip.Exception)
    assert str(failure.value) == unavailable_message()


def test_only_one_stack_variable_is_not_enough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_KAFKA_BOOTSTRAP", "env-kafka:9092")
    monkeypatch.setattr(testing, "_docker_answers", _docker(False))
    with pytest.raises(pytest.fail.Exception):
        next(start_stack())


def test_docker_answers_only_when_its_ping_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker  # type: ignore[import-untyped]

    class Engine:
        def __init__(self, ok: bool) -> None:
            self.ok = ok

        def ping(self) -> bool:
            if not self.ok:
                raise ConnectionError("no engine")
            return True

    def from_env(ok: bool) -> Callable[..., Any]:
        return lambda **_: Engine(ok)

    monkeypatch.setattr(docker, "from_env", from_env(True))
    assert testing._docker_answers() is True
    monkeypatch.setattr(docker, "from_env", from_env(False))
    assert testing._docker_answers() is False

    def unreachable(**_: Any) -> Any:
        raise docker.errors.DockerException("socket missing")

    monkeypatch.setattr(docker, "from_env", unreachable)
    assert testing._docker_answers() is False
