"""A prospect contacts deleted at the end of its retention leaves campaigns' projections."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from crm_contracts.contacts import ClientExpired
from crm_kit.query_plans import TEST_READ
from crm_kit.testing import StackEndpoints, eventually

from .bus import client, person, publish
from .conftest import Campaigns


def _ids() -> tuple[str, str]:
    return str(uuid.uuid4()), str(uuid.uuid4())


async def test_an_expired_prospect_leaves_the_portraits_and_the_people(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    gone, gone_person = _ids()
    kept, kept_person = _ids()
    await publish(stack, client(gone), person(gone, gone_person))
    await publish(stack, client(kept), person(kept, kept_person))
    db = campaigns.runtime.db

    async def count(collection: str, ids: list[str]) -> int:
        found: int = await db[collection].count_documents({"_id": {"$in": ids}}, comment=TEST_READ)
        return found

    async def projected() -> bool:
        return (
            await count("client_projection", [gone, kept]) == 2
            and await count("people_projection", [gone_person, kept_person]) == 2
        )

    await eventually(projected, within=60, what="both clients and people projected")
    now = datetime.now(UTC)
    expired = ClientExpired(
        client_id=gone,
        person_ids=(gone_person,),
        last_activity_at=now,
        retention_days=730,
        expired_at=now,
    )
    await publish(stack, expired, times=2)

    async def forgotten() -> bool:
        return (
            await count("client_projection", [gone]) == 0
            and await count("people_projection", [gone_person]) == 0
        )

    await eventually(forgotten, within=60, what="the expired prospect forgotten")
    assert await count("client_projection", [kept]) == 1
    assert await count("people_projection", [kept_person]) == 1
