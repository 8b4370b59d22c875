"""`crm rebuild contacts`: the timeline, replayed from the five topics it is made of, equals the
live one (merged clients included) and can replace a damaged one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contacts.app import SPEC, ContactsSettings
from crm_contacts.repository import TIMELINE
from crm_contracts.contacts import ClientRegistered, ClientsMerged
from crm_contracts.proposals import ProposalRegistered, ProposalWon
from crm_kit.app import create_app
from crm_kit.rebuild import rebuild
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    http_client,
    running,
    service_env,
)


def _id() -> str:
    return str(uuid.uuid4())


async def test_the_timeline_rebuilds_equal_and_repairs(
    stack: StackEndpoints, jwt_keys: JwtKeys, replays: Any
) -> None:
    spec = await replays.moved(SPEC, routes=True)
    settings = ContactsSettings(
        **service_env(stack, jwt_keys, "contacts", consumer_start_at_end=False)
    )
    writer = bearer(jwt_keys, "contacts:read", "contacts:write")
    admin = bearer(jwt_keys, "contacts:read", "contacts:write", "contacts:admin")
    app: Any = create_app(spec, settings)
    async with running(app), http_client(app) as api:
        db = app.state.runtime.db
        ids = []
        for name in ("Rebuild Survivor", "Rebuild Duplicate"):
            created = await api.post(
                "/clients", json={"name": f"{name} {uuid.uuid4().hex[:8]}"}, headers=writer
            )
            assert created.status_code == 201, created.text
            ids.append(created.json()["id"])
        survivor, duplicate = ids
        # The registrations, and a proposal for the duplicate before the merge.
        await replays.publish(
            replays.example(ClientRegistered, client_id=survivor, version=1),
            replays.example(ClientRegistered, client_id=duplicate, version=1),
            replays.example(ProposalRegistered, client_id=duplicate, proposal_id=_id()),
        )
        await replays.caught_up(settings.consumer_group)
        assert await db[TIMELINE].count_documents({"client_id": duplicate}) == 2

        merged = await api.post(
            f"/clients/{survivor}/merge", json={"merged_client_id": duplicate}, headers=admin
        )
        assert merged.status_code == 200, merged.text
        # After the merge: its fact, a proposal still naming the duplicate, a won one.
        await replays.publish(
            replays.example(
                ClientsMerged,
                survivor_client_id=survivor,
                merged_client_id=duplicate,
                merged_at=datetime.now(UTC),
                moved_person_ids=(),
                moved_contact_ids=(),
            ),
            replays.example(ProposalRegistered, client_id=duplicate, proposal_id=_id()),
            replays.example(ProposalWon, client_id=survivor, proposal_id=_id()),
        )
        await replays.caught_up(settings.consumer_group)
        entries = [d async for d in db[TIMELINE].find({}).sort("_id", 1)]
        assert {d["client_id"] for d in entries} == {survivor}
        assert len(entries) == 6
        # Whether its fact came before the merge or after, an entry of the duplicate says so.
        assert sorted(d["kind"] for d in entries if d.get("merged_from") == duplicate) == [
            "proposal_registered",
            "proposal_registered",
            "registered",
        ]

        report = await rebuild(spec, settings)
        assert report.failures == []
        assert report.events_applied == 6
        assert "clients" in report.copied
        assert TIMELINE not in report.copied
        (timeline,) = report.collections
        assert (timeline.name, timeline.live_count) == (TIMELINE, 6)
        assert report.equal, (timeline.live_count, timeline.rebuilt_count)

        await db[TIMELINE].delete_one({"_id": entries[0]["_id"]})
        damaged = await rebuild(spec, settings)
        assert not damaged.equal
        assert damaged.collections[0].live_count == 5
        repaired = await rebuild(spec, settings, apply=True)
        assert repaired.applied
        assert await db[TIMELINE].find_one({"_id": entries[0]["_id"]}) == entries[0]
        assert (await rebuild(spec, settings)).equal
