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

import os
from typing import Any

PARTICIPANTS = int(os.environ.get("CRM_RECOVERY_INVITATIONS", "150"))
"""Participants invited in the run (150 in the suite; docs/reliability.md for higher counts)."""
KILL_AT = PARTICIPANTS // 4
OUTAGE_S = 4.0


async def test_broker_killed_mid_fan_out_every_invitation_arrives_once(
    fan_out_through: Any, local_parts: Any
) -> None:
    received, killed_at = await fan_out_through(
        lambda: local_parts.kill_and_restart("broker", OUTAGE_S),
        participants=PARTICIPANTS,
        kill_at=KILL_AT,
    )
    assert killed_at < PARTICIPANTS, "the broker died after the fan-out ended: nothing was shown"
    assert len(received) == PARTICIPANTS
    assert {address: n for address, n in received.items() if n != 1} == {}
