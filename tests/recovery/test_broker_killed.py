"""The Kafka broker killed with SIGKILL and restarted in the middle of an invitation fan-out.

Campaigns and notify run in this process against the real stack; an SMTP server here counts
what each address receives. The people arrive as contacts' events, as they would in production.
An invitation run for every participant starts; once a quarter of the messages have reached the
SMTP server the broker is killed with SIGKILL, and restarted a few seconds later. Afterwards
every participant has received exactly one invitation: none missing, none twice.

Killing the broker affects everything using the stack at that moment, so this test restarts it
before it ends, and the suite's other tests see a broker that is up.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from crm_kit.testing import (
    StackEndpoints,
)
from crm_stack import stack as local_stack
from crm_stack.config import StackConfig

PARTICIPANTS = int(os.environ.get("CRM_RECOVERY_INVITATIONS", "150"))
"""Participants invited in the run (150 in the suite; docs/reliability.md for higher counts)."""
KILL_AT = PARTICIPANTS // 4
OUTAGE_S = 4.0


@pytest.fixture
def local_broker(stack: StackEndpoints) -> Iterator[StackConfig]:
    """The local stack's configuration; whatever happens, the broker runs again afterwards."""
    cfg = StackConfig.from_env()
    assert cfg.kafka_bootstrap == stack.kafka_bootstrap, (
        f"the tests use {stack.kafka_bootstrap} but crm-stack's settings name "
        f"{cfg.kafka_bootstrap}: set the same CRM_STACK_* variables for both"
    )
    assert local_stack.broker_pid(cfg) is not None, "the broker was not started by crm-stack"
    try:
        yield cfg
    finally:
        if local_stack.broker_pid(cfg) is None:
            local_stack.up(cfg, say=lambda _: None)


async def test_broker_killed_mid_fan_out_every_invitation_arrives_once(
    fan_out_through: Any, local_broker: StackConfig
) -> None:
    async def kill_and_restart_the_broker() -> None:
        pid = local_stack.broker_pid(local_broker)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(local_stack.up, local_broker, say=lambda _: None)

    received, killed_at = await fan_out_through(
        kill_and_restart_the_broker, participants=PARTICIPANTS, kill_at=KILL_AT
    )
    assert killed_at < PARTICIPANTS, "the broker died after the fan-out ended: nothing was shown"
    assert len(received) == PARTICIPANTS
    assert {address: n for address, n in received.items() if n != 1} == {}
