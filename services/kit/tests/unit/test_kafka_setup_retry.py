"""Start-up retries a retriable broker answer for a bounded time and gives up on the rest."""

from __future__ import annotations

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAuthorizationFailedError
from crm_kit import app as kit_app


async def test_a_coordinator_still_loading_is_retried_until_it_answers() -> None:
    calls: list[int] = []

    async def op() -> None:
        calls.append(1)
        if len(calls) < 3:
            raise GroupCoordinatorNotAvailableError("loading")

    await kit_app._retrying("probe", op)
    assert len(calls) == 3


async def test_a_non_retriable_error_fails_at_once() -> None:
    calls: list[int] = []

    async def op() -> None:
        calls.append(1)
        raise TopicAuthorizationFailedError("denied")

    with pytest.raises(TopicAuthorizationFailedError):
        await kit_app._retrying("probe", op)
    assert len(calls) == 1


async def test_retrying_stops_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kit_app, "KAFKA_SETUP_WITHIN_S", 0.5)
    calls: list[int] = []

    async def op() -> None:
        calls.append(1)
        raise GroupCoordinatorNotAvailableError("never")

    with pytest.raises(GroupCoordinatorNotAvailableError):
        await kit_app._retrying("probe", op)
    assert 1 < len(calls) < 10
