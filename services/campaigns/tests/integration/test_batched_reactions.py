"""Contact records and delivery outcomes handled many at a time: each counted once, whatever
arrives twice, fails or is cut short, and a bad record dead-lettered alone while the others
around it count."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_campaigns.handlers import reactions
from crm_campaigns.repository import EVENT_CONTACTS, NEEDS
from crm_contracts.contacts import ContactRecorded
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CAMPAIGNS, CONTACTS, NOTIFY, dead_letter_topic
from crm_kit.consumer import PROCESSED
from crm_kit.testing import (
    StackEndpoints,
    consumed_up_to,
    end_offsets,
    eventually,
    read_topic,
    stack_kafka_options,
)

from .bus import client, contact_recorded, delivered, failed, our_facts, person, publish
from .conftest import TEST_READ, Campaigns
from .test_participants import people_known
from .test_plan_schedule import event_body


def pairs(*events: ContactRecorded) -> list[tuple[ContactRecorded, Envelope]]:
    return [(e, Envelope.wrap(e, producer="test")) for e in events]


async def new_event(c: Campaigns) -> str:
    created = await c.http.post("/events", json=event_body(), headers=c.write())
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def contact_records(c: Campaigns, eid: str) -> int:
    got = await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())
    assert got.status_code == 200, got.text
    return int(got.json()["contact_records"])


async def test_a_batch_delivered_twice_counts_once(campaigns: Campaigns) -> None:
    c, rt = campaigns, campaigns.runtime
    eid = await new_event(c)
    batch = pairs(
        *(contact_recorded(eid, f"client-{i % 3}", codes=("WATER-1", "WATER-2")) for i in range(7))
    )

    await reactions.on_contacts_recorded(rt, batch)
    await reactions.on_contacts_recorded(rt, batch)
    # The same records again one by one, gathered as the consumer's lanes would be.
    await asyncio.gather(*(reactions.on_contact_recorded(rt, e, env) for e, env in batch))

    assert await contact_records(c, eid) == 7
    assert await rt.db[NEEDS].count_documents({"event_id": eid}, comment=TEST_READ) == 14
    stored = await rt.db[EVENT_CONTACTS].find({"event_id": eid}, comment=TEST_READ).to_list()
    assert len(stored) == 7
    assert all(doc["counted"] is True for doc in stored)


async def test_a_record_whose_counting_was_cut_short_is_counted_when_redelivered(
    campaigns: Campaigns,
) -> None:
    c, rt = campaigns, campaigns.runtime
    eid = await new_event(c)
    cut, whole, before_marks = pairs(
        contact_recorded(eid, "k1"), contact_recorded(eid, "k2"), contact_recorded(eid, "k3")
    )
    # A crash after the records' insert and before the counter: stored, not counted.
    await rt.db[EVENT_CONTACTS].insert_one(
        {"_id": cut[0].contact_id, "event_id": eid, "counted": False, "version": 1}
    )
    # A record stored (and counted) before the mark was kept carries no mark at all.
    await rt.db[EVENT_CONTACTS].insert_one(
        {"_id": before_marks[0].contact_id, "event_id": eid, "version": 1}
    )

    await reactions.on_contacts_recorded(rt, [cut, whole, before_marks])
    await reactions.on_contacts_recorded(rt, [cut, whole, before_marks])

    assert await contact_records(c, eid) == 2


async def test_a_failing_record_among_gathered_ones_fails_alone(campaigns: Campaigns) -> None:
    c, rt = campaigns, campaigns.runtime
    eid = await new_event(c)
    good = pairs(*(contact_recorded(eid, f"client-{i}", codes=("WATER-1",)) for i in range(4)))
    # Needs named without a time: the NeedsIdentified it implies cannot be built.
    bad_event = contact_recorded(eid, "client-bad").model_copy(
        update={"need_tags": ("pumps",), "recorded_at": None}
    )
    bad = (bad_event, Envelope.wrap(contact_recorded(eid, "client-bad"), producer="test"))
    calls_before = reactions.gathered_contacts.calls_made

    outcomes = await asyncio.gather(
        reactions.on_contact_recorded(rt, *good[0]),
        reactions.on_contacts_recorded(rt, good[1:3]),
        reactions.on_contact_recorded(rt, *bad),
        reactions.on_contact_recorded(rt, *good[3]),
        return_exceptions=True,
    )

    assert [isinstance(o, Exception) for o in outcomes] == [False, False, True, False]
    # One call for the four callers together, then one per caller once it failed.
    assert reactions.gathered_contacts.calls_made - calls_before == 5
    assert await contact_records(c, eid) == 4
    assert await rt.db[EVENT_CONTACTS].count_documents({"event_id": eid}, comment=TEST_READ) == 4


async def test_gathered_records_write_their_needs_with_each_records_correlation_id(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c, rt = campaigns, campaigns.runtime
    eid = await new_event(c)
    since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
    records = [contact_recorded(eid, f"client-{i}", codes=("WATER-1",)) for i in range(3)]
    envelopes = [
        Envelope.wrap(e, producer="test", correlation_id=f"corr-{i}") for i, e in enumerate(records)
    ]

    # Three lanes' records, written in one bulk call.
    await asyncio.gather(
        *(
            reactions.on_contact_recorded(rt, e, env)
            for e, env in zip(records, envelopes, strict=True)
        )
    )

    def needs(envelopes: list[Envelope]) -> list[Envelope]:
        return [e for e in envelopes if e.event_type == "NeedsIdentified"]

    facts = needs(await our_facts(stack, since, eid, until=lambda es: len(needs(es)) >= 3))
    assert {e.payload["source_id"]: (e.correlation_id, e.causation_id) for e in facts} == {
        r.contact_id: (env.correlation_id, str(env.event_id))
        for r, env in zip(records, envelopes, strict=True)
    }


async def _produce(stack: StackEndpoints, messages: list[tuple[bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for key, value in messages:
            await producer.send(CONTACTS, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()


def _unreadable(event: ContactRecorded) -> bytes:
    """A well-formed envelope whose payload does not validate (an unknown kind of contact)."""
    doc: dict[str, Any] = json.loads(Envelope.wrap(event, producer="test").to_bytes())
    doc["payload"]["kind"] = "telepathy"
    return json.dumps(doc).encode()


@pytest.mark.timeout(300)
async def test_through_the_topic_a_poison_record_is_dead_lettered_alone_and_the_rest_count(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    eid = await new_event(c)
    group = c.runtime.settings.consumer_group
    dlq = dead_letter_topic(CONTACTS, group)
    since = await end_offsets(stack.kafka_bootstrap, dlq)
    # One client's run (a lane with a poison in the middle) and 30 clients of one record each
    # (lanes gathered together), every good record sent twice.
    lane_client = f"lane-{uuid.uuid4()}"
    run = [contact_recorded(eid, lane_client, codes=("WATER-1",)) for _ in range(6)]
    singles = [contact_recorded(eid, f"single-{uuid.uuid4()}") for _ in range(30)]
    poison = _unreadable(contact_recorded(eid, lane_client))
    messages: list[tuple[bytes, bytes]] = []
    for i, event in enumerate(run + singles):
        raw = Envelope.wrap(event, producer="test").to_bytes()
        messages += [(event.client_id.encode(), raw)] * 2
        if i == 2:
            messages.append((lane_client.encode(), poison))
    await _produce(stack, messages)

    async def all_counted() -> bool:
        return await contact_records(c, eid) >= 36

    await eventually(all_counted, within=120, what="36 contact records counted")
    dead = await read_topic(
        stack.kafka_bootstrap, dlq, since=since, stop_when=lambda rs: len(rs) >= 1, within=60
    )
    assert [r.value for r in dead] == [poison]
    assert await contact_records(c, eid) == 36
    assert await c.runtime.db[NEEDS].count_documents({"event_id": eid}, comment=TEST_READ) == 6


async def invited(
    c: Campaigns, stack: StackEndpoints, n: int
) -> tuple[str, list[str], dict[str, str]]:
    """A new event with ``n`` new people as participants, all invited: the event's id, the
    people's ids and their participant ids by person."""
    k = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(n)]
    await publish(stack, client(k), *(person(k, i) for i in ids))
    await people_known(c, ids)
    eid = await new_event(c)
    added = await c.http.post(
        f"/events/{eid}/participants",
        json={"people": [{"person_id": i} for i in ids]},
        headers=c.write(),
    )
    pid = {p["person_id"]: p["id"] for p in added.json()["items"]}
    started = await c.http.post(f"/events/{eid}/invitations", json={}, headers=c.write())
    assert started.status_code == 202, started.text

    async def finished() -> bool:
        run = await c.http.get(started.headers["Location"], headers=c.read())
        return bool(run.json()["state"] == "done")

    await eventually(finished, within=120, what="the invitation run")
    return eid, ids, pid


async def test_delivery_outcomes_in_bulk_move_each_participant_once(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c, rt = campaigns, campaigns.runtime
    eid, ids, pid = await invited(c, stack, 4)
    a, b, f, untouched = ids
    f_failed = failed(eid, pid[f], f)
    outcomes = [
        delivered(eid, pid[a], a),
        delivered(eid, pid[b], b),
        f_failed,
        delivered(eid, pid[a], a),  # a second notification about A: the first outcome stands
        failed(eid, pid[b], b),  # too late: B was delivered
        delivered(eid, "someone-else", a),  # not a participant of ours
    ]
    batch = [(o, Envelope.wrap(o, producer="test")) for o in outcomes]

    await reactions.on_notifications_reported(rt, batch)
    await reactions.on_notifications_reported(rt, batch)
    await asyncio.gather(
        *(reactions.on_notification_delivered(rt, o, env) for o, env in batch[:2]),
        reactions.on_notification_failed(rt, f_failed, batch[2][1]),
    )

    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert (figures["delivered"], figures["failed"]) == (2, 1)
    listed = await c.http.get(f"/events/{eid}/participants", headers=c.read())
    status = {p["person_id"]: p["status"] for p in listed.json()["items"]}
    assert status == {a: "delivered", b: "delivered", f: "failed", untouched: "invited"}


@pytest.mark.timeout(300)
async def test_delivery_outcomes_through_the_topic_count_once_and_leave_no_marker(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    """A delivery outcome's record is its participant's outcome (the first one stands): the
    consumer keeps no processed marker for it, and one delivered twice still counts once."""
    c, rt = campaigns, campaigns.runtime
    eid, ids, pid = await invited(c, stack, 3)
    a, b, f = ids
    outcomes = [delivered(eid, pid[a], a), delivered(eid, pid[b], b), failed(eid, pid[f], f)]
    await publish(stack, *outcomes, times=2)
    published = await end_offsets(stack.kafka_bootstrap, NOTIFY)
    group = rt.settings.consumer_group

    await eventually(
        lambda: consumed_up_to(stack.kafka_bootstrap, group, NOTIFY, published),
        within=120,
        what="the outcomes consumed and committed",
    )
    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert (figures["delivered"], figures["failed"]) == (2, 1)
    listed = await c.http.get(f"/events/{eid}/participants", headers=c.read())
    status = {p["person_id"]: p["status"] for p in listed.json()["items"]}
    assert status == {a: "delivered", b: "delivered", f: "failed"}
    kinds = ["NotificationDelivered", "NotificationFailed"]
    markers = {"group": group, "event_type": {"$in": kinds}}
    assert await rt.db[PROCESSED].count_documents(markers, comment=TEST_READ) == 0
