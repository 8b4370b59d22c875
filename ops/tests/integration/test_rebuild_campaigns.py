"""`crm rebuild campaigns`: its copies of clients, people, employees and the catalogue, replayed
from the contacts and proposals topics, equal the live ones and can replace a damaged one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_campaigns.app import SPEC
from crm_campaigns.projections import CLIENTS
from crm_campaigns.projections.people import CATALOG, EMPLOYEES, PEOPLE
from crm_campaigns.settings import CampaignsSettings
from crm_contracts.contacts import (
    ClientRegistered,
    ClientStatusChanged,
    ConsentChanged,
    EmployeeRegistered,
    PersonAdded,
)
from crm_contracts.proposals import CatalogItemChanged
from crm_contracts.values import Channel, ClientStatus
from crm_kit.app import create_app
from crm_kit.rebuild import rebuild
from crm_kit.testing import JwtKeys, StackEndpoints, eventually, running, service_env


def _id() -> str:
    return str(uuid.uuid4())


async def test_campaigns_projections_rebuild_equal_and_repair(
    stack: StackEndpoints, jwt_keys: JwtKeys, replays: Any
) -> None:
    spec = await replays.moved(SPEC)
    first, second, person, employee = _id(), _id(), _id(), _id()
    code = f"TEST-{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC) - timedelta(minutes=5)
    registered = replays.example(ClientRegistered, client_id=first, version=1)
    events = [
        registered,
        replays.example(ClientRegistered, client_id=second, version=1),
        replays.example(
            ClientStatusChanged,
            client_id=first,
            from_status=registered.status,
            to_status=ClientStatus.ACTIVE,
            version=2,
        ),
        replays.example(PersonAdded, client_id=first, person_id=person, version=1),
        replays.example(
            ConsentChanged,
            client_id=first,
            person_id=person,
            channel=Channel.MOBILE,
            granted=True,
            at=at,
        ),
        replays.example(EmployeeRegistered, employee_id=employee, version=1),
        replays.example(CatalogItemChanged, code=code, version=1),
        replays.example(CatalogItemChanged, code=code, version=2, name="Renamed item"),
    ]
    await replays.publish(*events)

    settings = CampaignsSettings(
        **service_env(stack, jwt_keys, "campaigns", consumer_start_at_end=False)
    )
    app: Any = create_app(spec, settings)
    async with running(app):
        db = app.state.runtime.db
        await replays.caught_up(settings.consumer_group)
        await eventually(lambda: db[CATALOG].find_one({"_id": code, "version": 2}), what="catalog")

        report = await rebuild(spec, settings)
        assert report.failures == []
        assert report.events_applied == len(events)
        by_name = {c.name: c for c in report.collections}
        assert set(by_name) == {CLIENTS, PEOPLE, EMPLOYEES, CATALOG}
        assert [by_name[n].live_count for n in (CLIENTS, PEOPLE, EMPLOYEES, CATALOG)] == [
            2,
            1,
            1,
            1,
        ]
        assert report.equal, [(c.name, c.live_count, c.rebuilt_count) for c in report.collections]
        assert report.held_back == 0

        await db[PEOPLE].delete_one({"_id": person})
        await db[CLIENTS].update_one({"_id": first}, {"$set": {"status": "former"}})
        damaged = await rebuild(spec, settings)
        assert {c.name for c in damaged.collections if not c.equal} == {PEOPLE, CLIENTS}

        repaired = await rebuild(spec, settings, apply=True)
        assert repaired.applied
        restored = await db[PEOPLE].find_one({"_id": person})
        assert restored is not None
        assert "mobile" in restored["consented"]
        assert (await db[CLIENTS].find_one({"_id": first}))["status"] == ClientStatus.ACTIVE.value
        assert (await rebuild(spec, settings)).equal
