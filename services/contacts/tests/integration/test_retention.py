"""The prospects' retention job: never-converted clients idle for the retention period are
deleted with their people and contact records, once, and the other services hear of it."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

from crm_contacts import projections
from crm_contacts.handlers.retention import expire_prospects
from crm_contacts.repository import TimelineEntry, TimelineRepository
from crm_contacts.settings import ContactsSettings
from crm_contracts.contacts import ClientExpired, PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.personal import ERASED
from crm_kit.clock import utc_now

from .conftest import Contacts

RETENTION = timedelta(days=730)  # ContactsSettings' default


async def _idle_since(contacts: Contacts) -> datetime:
    """A moment after what the test did so far: activity after it is recent at the job's
    ``now`` of ``moment + RETENTION``, activity before it is not."""
    await asyncio.sleep(0.02)
    moment = utc_now()
    await asyncio.sleep(0.02)
    return moment


async def _record(contacts: Contacts, client_id: str, person_id: str | None = None) -> str:
    employee = await contacts.employee()
    response = await contacts.api.post(
        "/contacts",
        json={
            "client_id": client_id,
            "person_id": person_id,
            "employee_id": employee["id"],
            "kind": "call",
            "direction": "outbound",
            "occurred_at": utc_now().isoformat(),
            "summary": "Called about the offer",
        },
        headers=contacts.writer,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _exists(contacts: Contacts, collection: str, **query: Any) -> bool:
    return await contacts.db[collection].count_documents(query) > 0


async def test_an_idle_prospect_goes_with_its_people_and_records_and_nothing_else_does(
    contacts: Contacts,
) -> None:
    idle = await contacts.register()
    person = await contacts.add_person(idle["id"])
    old_record = await _record(contacts, idle["id"], person["id"])
    busy = await contacts.register()
    converted = await contacts.register()
    await contacts.move(converted["id"], "active")
    moment = await _idle_since(contacts)
    await _record(contacts, busy["id"])  # recent: keeps the prospect
    since = await contacts.offsets()

    expired = await expire_prospects(contacts.app.state.runtime, now=moment + RETENTION)

    assert expired.client_ids == (idle["id"],)
    assert not await _exists(contacts, "clients", _id=idle["id"])
    assert not await _exists(contacts, "contacts", client_id=idle["id"])
    for kept in (busy, converted):
        assert await _exists(contacts, "clients", _id=kept["id"])
    assert await _exists(contacts, "contacts", client_id=busy["id"])
    [envelope] = await contacts.events(since, idle["id"], only=("ClientExpired",))
    event = envelope.open_as(ClientExpired)
    assert (event.person_ids, event.contact_ids, event.retention_days) == (
        (person["id"],),
        (old_record,),
        730,
    )
    assert event.last_activity_at < moment


async def test_running_the_job_again_or_in_two_replicas_at_once_deletes_once(
    contacts: Contacts,
) -> None:
    first = await contacts.register()
    second = await contacts.register()
    moment = await _idle_since(contacts)
    runtime = contacts.app.state.runtime
    since = await contacts.offsets()

    runs = await asyncio.gather(
        expire_prospects(runtime, now=moment + RETENTION),
        expire_prospects(runtime, now=moment + RETENTION),
    )
    again = await expire_prospects(runtime, now=moment + RETENTION)

    # Clients earlier tests kept are due at this later ``now`` too: only ours are counted.
    ours = sorted([first["id"], second["id"]])
    deleted = [cid for run in runs for cid in run.client_ids if cid in ours]
    assert sorted(deleted) == ours
    assert again.client_ids == ()
    for client in (first, second):
        published = await contacts.events(since, client["id"], only=("ClientExpired",))
        assert len(published) == 1


async def test_a_prospect_registered_within_the_period_is_kept(contacts: Contacts) -> None:
    client = await contacts.register()
    runtime = contacts.app.state.runtime

    expired = await expire_prospects(runtime, now=utc_now() + RETENTION - timedelta(hours=1))

    assert client["id"] not in expired.client_ids
    assert await _exists(contacts, "clients", _id=client["id"])


async def test_a_retention_of_zero_keeps_prospects_for_ever(contacts: Contacts) -> None:
    client = await contacts.register()
    runtime = contacts.app.state.runtime
    settings = ContactsSettings(**{**runtime.settings.model_dump(), "prospect_retention_days": 0})
    keeping = dataclasses.replace(runtime, settings=settings)

    expired = await expire_prospects(keeping, now=utc_now() + timedelta(days=100 * 365))

    assert expired.client_ids == ()
    assert await _exists(contacts, "clients", _id=client["id"])


async def test_the_clients_merged_into_a_prospect_go_with_it(contacts: Contacts) -> None:
    survivor = await contacts.register()
    duplicate = await contacts.register()
    merged = await contacts.api.post(
        f"/clients/{survivor['id']}/merge",
        json={"merged_client_id": duplicate["id"]},
        headers=contacts.admin,
    )
    assert merged.status_code == 200, merged.text
    moment = await _idle_since(contacts)
    since = await contacts.offsets()

    expired = await expire_prospects(contacts.app.state.runtime, now=moment + RETENTION)

    assert survivor["id"] in expired.client_ids
    assert not await _exists(contacts, "clients", _id=duplicate["id"])
    [envelope] = await contacts.events(since, survivor["id"], only=("ClientExpired",))
    assert envelope.open_as(ClientExpired).merged_client_ids == (duplicate["id"],)


async def test_an_expired_prospect_takes_its_timeline_with_it(contacts: Contacts) -> None:
    runtime = contacts.app.state.runtime
    timeline = TimelineRepository(runtime)
    now = utc_now()
    for client_id in ("tl-expired", "tl-merged", "tl-kept"):
        await timeline.put(
            TimelineEntry(f"entry-{client_id}", client_id, now, "contact", "contacts", "Met", {})
        )
    event = ClientExpired(
        client_id="tl-expired",
        merged_client_ids=("tl-merged",),
        last_activity_at=now,
        retention_days=730,
        expired_at=now,
    )
    envelope = Envelope.wrap(event, producer="contacts", key=event.client_id)

    await projections.on_client_expired(runtime, event, envelope)
    await projections.on_client_expired(runtime, event, envelope)

    left = [d["client_id"] async for d in timeline.collection.find({"_id": {"$regex": "^entry-"}})]
    assert left == ["tl-kept"]


async def test_an_expired_prospects_people_read_as_erased_in_the_events_already_published(
    contacts: Contacts,
) -> None:
    since = await contacts.offsets()
    idle = await contacts.register()
    person = await contacts.add_person(
        idle["id"], channels={"email": f"{idle['id'][:8]}@example.com"}
    )
    kept = await contacts.register()
    kept_person = await contacts.add_person(kept["id"])
    moment = await _idle_since(contacts)
    await _record(contacts, kept["id"])  # recent: keeps the prospect

    await expire_prospects(contacts.app.state.runtime, now=moment + RETENTION)

    [added] = await contacts.events(since, idle["id"], only=("PersonAdded",))
    event = added.open_as(PersonAdded)
    assert event.person_id == person["id"]
    assert (event.name, event.channels.email) == (ERASED, ERASED)
    [still] = await contacts.events(since, kept["id"], only=("PersonAdded",))
    assert still.open_as(PersonAdded).name == kept_person["name"]
