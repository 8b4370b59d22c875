"""The delivery worker's scheduling on the real store: fresh notifications do not queue behind
retries, recipients that never become known end failed, due work is read from the
notifications' own index, a claim admits one worker per attempt, and outcomes are written only
while the lease holds."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from crm_contracts.notify import NotificationFailed
from crm_contracts.topics import NOTIFY
from crm_kit.clock import utc_now
from crm_kit.outbox import Outbox
from crm_kit.testing import bearer, end_offsets, eventually
from crm_notify.repository import NOTIFICATIONS, delivery, notifications
from crm_notify.repository.indexes import create_indexes
from crm_notify.repository.notifications import LOG_KEYS, source_key
from pymongo import UpdateOne

from .conftest import Harness, final_notification, outcome_events, unique

BATCHES_OF_RETRIES = 4
"""Due retries in front of a fresh notification, in batches of the worker's size."""


def unknown_recipient_retry(source_id: str, attempts: int, due_at: Any) -> dict[str, Any]:
    """A curator notice for an employee notify never heard of, waiting for another attempt."""
    now = utc_now()
    doc = notifications.new_notification(
        {
            "_id": str(uuid.uuid4()),
            "kind": "curator_assigned",
            "recipient": {"kind": "employee", "id": unique("never-registered"), "client_id": None},
            "source": {"event_id": source_id, "event_type": "CuratorAssigned"},
            "variables": {"client_name": "Acme Tools"},
            "event_id": None,
            "participant_id": None,
            "language_hint": None,
            "preferred_hint": None,
            "channel_hints": [],
            "calendar": None,
        },
        now - timedelta(hours=2),
    )
    doc.update(
        status="retry",
        attempts=attempts,
        next_attempt_at=due_at,
        last_error="unknown recipient: not known yet",
    )
    return doc


async def test_a_fresh_notification_is_sent_while_many_unknown_recipient_retries_are_due(
    notify: Harness,
) -> None:
    h = notify
    unknown = BATCHES_OF_RETRIES * h.app.state.runtime.settings.worker_batch_size
    run = uuid.uuid4().hex[:10]
    mine = {LOG_KEYS: {"$regex": f"^{source_key(run)}-"}}
    later = utc_now() + timedelta(days=1)
    docs = [unknown_recipient_retry(f"{run}-{n}", 1, later) for n in range(unknown)]
    try:
        assert await notifications.insert_notifications(h.db, docs) == unknown
        # All of them due at once, an hour overdue, just before the fresh one arrives.
        overdue = {"$set": {"next_attempt_at": utc_now() - timedelta(hours=1)}}
        made_due = await h.db["notifications"].update_many(mine, overdue)
        assert made_due.modified_count == unknown
        address = f"{unique('fresh')}@example.com"
        sent = await h.client.post(
            "/notifications",
            json={
                "recipient": {"kind": "address", "id": address},
                "channel": "email",
                "subject": "Hall booked",
                "body": "Hall 2 is yours on Friday.",
                "language": "en",
            },
            headers=bearer(h.keys, "notify:send"),
        )
        assert sent.status_code == 201, sent.text
        fresh = await final_notification(h, sent.json()["source_event_id"])
        assert (fresh["status"], fresh["attempts"]) == ("delivered", 1)
        assert len(h.smtp.messages_to(address)) == 1

        stored = await h.db["notifications"].find_one({"_id": fresh["id"]})
        tried_first = await h.db["notifications"].count_documents(
            {**mine, "claimed_at": {"$lte": stored["claimed_at"]}}
        )
        # Oldest-due-first tried every one of them before the fresh one; the fresh lane takes
        # it in the next batch, while retries are still waiting.
        assert tried_first < unknown

        async def one_retried() -> Any:
            return await h.db["notifications"].find_one({**mine, "attempts": 2, "status": "retry"})

        retried = await eventually(one_retried, what="an unknown recipient tried again")
        assert retried["last_error"] == (
            f"unknown recipient: employee:{retried['recipient']['id']} is not known yet"
        )
        # The second wait is the configured base times the factor: pushed out, not hammered.
        assert retried["next_attempt_at"] - retried["claimed_at"] >= timedelta(seconds=120)
    finally:
        await h.db["notifications"].delete_many(mine)


async def test_an_unknown_recipient_ends_failed_with_the_reason_after_its_attempt_cap(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    cap = h.app.state.runtime.settings.unknown_recipient_max_attempts
    source_id = f"{uuid.uuid4().hex}-cap"
    doc = unknown_recipient_retry(source_id, cap - 1, utc_now() - timedelta(seconds=1))
    assert await notifications.insert_notifications(h.db, [doc]) == 1

    notification = await final_notification(h, source_id)

    who = f"employee:{doc['recipient']['id']}"
    reason = (
        f"unknown recipient: {who} is not known to notify (no registration of it was received) "
        f"after {cap} attempts"
    )
    assert notification["status"] == "failed"
    assert notification["failure"] == "retries_exhausted"
    assert notification["attempts"] == cap
    assert notification["last_error"] == reason
    [envelope] = await outcome_events(h, since, notification)
    failed = envelope.open_as(NotificationFailed)
    assert failed.reason == reason
    assert failed.channel is None
    assert failed.attempts == cap
    assert failed.source_event_id == source_id


def store_time() -> Any:
    """Now, to the millisecond the store keeps, so times read back compare equal."""
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def waiting(nid: str, status: str, attempts: int, at: Any) -> dict[str, Any]:
    """A notification as the due query sees it."""
    return {"_id": nid, "status": status, "attempts": attempts, "next_attempt_at": at}


async def test_racing_claims_of_one_attempt_admit_one_worker_each(mongo_db: Any) -> None:
    await create_indexes(mongo_db)
    now = store_time()
    lease = timedelta(minutes=2)
    docs = [waiting(f"n{n:02d}", "pending", 0, now - timedelta(seconds=1)) for n in range(40)]
    await mongo_db[NOTIFICATIONS].insert_many(docs)
    due = await delivery.due_notifications(mongo_db, now, 100)

    won = await asyncio.gather(
        *(delivery.claim_batch(mongo_db, due, now, lease, f"worker-{w}") for w in range(4))
    )

    taken = [d["_id"] for batch in won for d in batch]
    assert sorted(taken) == [d["_id"] for d in docs]
    stored = {d["_id"]: d async for d in mongo_db[NOTIFICATIONS].find({})}
    for w, batch in enumerate(won):
        for doc in batch:
            assert (doc["lease"], doc["attempts"]) == (f"worker-{w}", 1)
            assert stored[doc["_id"]]["lease"] == f"worker-{w}"
    # A stale candidate (its attempt claimed meanwhile) changes nothing.
    assert await delivery.claim_batch(mongo_db, due, now + lease, lease, "late") == []


async def test_renewing_leases_extends_only_what_the_batch_still_holds(mongo_db: Any) -> None:
    now = utc_now()
    ends = now + timedelta(seconds=30)
    docs = [
        {"_id": f"n{n}", "status": "sending", "lease": "mine", "next_attempt_at": ends}
        for n in range(3)
    ]
    docs.append({"_id": "taken", "status": "sending", "lease": "other", "next_attempt_at": ends})
    await mongo_db[NOTIFICATIONS].insert_many(docs)
    until = now + timedelta(minutes=2)

    kept = await delivery.renew_leases(mongo_db, ["n0", "n1", "n2", "taken"], "mine", until)

    assert kept == {"n0", "n1", "n2"}
    stored = {d["_id"]: d async for d in mongo_db[NOTIFICATIONS].find({})}
    assert [stored[f"n{n}"]["next_attempt_at"] for n in range(3)] == [until] * 3
    assert stored["taken"]["next_attempt_at"] == ends
    assert stored["taken"]["lease"] == "other"


def ad_hoc(
    notification_id: str, address: str, source_id: str, due: Any, subject: str = "Hall booked"
) -> dict[str, Any]:
    """An e-mail to an address as notify stores it when asked over HTTP, due at ``due``."""
    return notifications.new_notification(
        {
            "_id": notification_id,
            "kind": "ad_hoc",
            "recipient": {"kind": "address", "id": address},
            "source": {"event_id": source_id, "event_type": "AdHocSend"},
            "variables": {"subject": subject, "body": "Kept in the store."},
            "event_id": None,
            "participant_id": None,
            "language_hint": "en",
            "preferred_hint": "email",
            "channel_hints": [],
            "address_channel": "email",
            "calendar": None,
        },
        due,
    )


async def test_a_notification_written_straight_to_the_store_is_delivered_once(
    notify: Harness,
) -> None:
    """Nothing but the notification itself makes it due: one written by hand (or by an
    earlier version) is found by the worker and sent once."""
    h = notify
    address = f"{unique('by-hand')}@example.com"
    source_id = f"{uuid.uuid4().hex}-by-hand"
    doc = ad_hoc(str(uuid.uuid4()), address, source_id, utc_now(), "Stored by hand")
    await h.db[NOTIFICATIONS].insert_one(doc)

    notification = await final_notification(h, source_id)
    assert (notification["status"], notification["attempts"]) == ("delivered", 1)
    assert len(h.smtp.messages_to(address)) == 1


async def test_only_waiting_notifications_whose_time_has_come_are_due(mongo_db: Any) -> None:
    await create_indexes(mongo_db)
    now = store_time()
    lease_end = now + timedelta(minutes=2)
    await mongo_db[NOTIFICATIONS].insert_many(
        [
            waiting("ready", "pending", 0, now - timedelta(seconds=5)),
            waiting("retry-ready", "retry", 2, now - timedelta(seconds=1)),
            waiting("retry-later", "retry", 1, now + timedelta(minutes=1)),
            waiting("leased", "sending", 1, lease_end),
            # Its worker died: the lease ran out, so the attempt is taken again.
            waiting("lease-ran-out", "sending", 1, now - timedelta(seconds=1)),
            waiting("delivered", "delivered", 1, now - timedelta(minutes=1)),
            waiting("failed", "failed", 3, now - timedelta(minutes=1)),
        ]
    )

    due = await delivery.due_notifications(mongo_db, now, 10)

    assert [d["_id"] for d in due] == ["ready", "lease-ran-out", "retry-ready"]
    assert [d["_id"] for d in await delivery.due_notifications(mongo_db, lease_end, 10)] == [
        "ready",
        "lease-ran-out",
        "retry-later",
        "leased",
        "retry-ready",
    ]


async def test_outcomes_are_written_with_their_events_only_while_the_lease_holds(
    mongo_db: Any,
) -> None:
    await create_indexes(mongo_db)
    now = store_time()
    lease = timedelta(minutes=2)
    docs = [
        notifications.new_notification(
            {
                "_id": f"n{n}",
                "kind": "staff_notice",
                "recipient": {"kind": "employee", "id": f"e{n}"},
                "source": {"event_id": f"s{n}", "event_type": "StaffNotice"},
            },
            now - timedelta(seconds=1),
        )
        for n in range(3)
    ]
    assert await notifications.insert_notifications(mongo_db, docs) == 3
    # The same requests again (a redelivered event): nothing new.
    assert await notifications.insert_notifications(mongo_db, docs) == 0
    taken = await delivery.claim_batch(
        mongo_db, await delivery.due_notifications(mongo_db, now, 10), now, lease, "mine"
    )
    assert sorted(d["_id"] for d in taken) == ["n0", "n1", "n2"]
    assert await delivery.due_notifications(mongo_db, now, 10) == []
    # Another worker took n2 over once the lease ran out.
    await mongo_db[NOTIFICATIONS].update_one({"_id": "n2"}, {"$set": {"lease": "other"}})

    retry_at = now + timedelta(seconds=30)
    delivered = {"status": "delivered", "lease": None}
    retried = {"status": "retry", "next_attempt_at": retry_at, "lease": None}
    entry = {"_id": "e0", "event_id": "x", "topic": "t", "key": "n0", "value": "{}"}
    runtime = SimpleNamespace(db=mongo_db, events=Outbox(mongo_db, producer="notify"))
    written = await delivery.settle(
        runtime,  # type: ignore[arg-type]
        "mine",
        [
            ("n0", UpdateOne({"_id": "n0", "lease": "mine"}, {"$set": delivered}), [entry]),
            ("n1", UpdateOne({"_id": "n1", "lease": "mine"}, {"$set": retried}), []),
            ("n2", UpdateOne({"_id": "n2", "lease": "mine"}, {"$set": delivered}), [entry]),
        ],
    )

    assert written == {"n0", "n1"}
    stored = {d["_id"]: d async for d in mongo_db[NOTIFICATIONS].find({})}
    assert [stored[n]["status"] for n in ("n0", "n1", "n2")] == ["delivered", "retry", "sending"]
    assert [e["_id"] async for e in mongo_db["outbox"].find({})] == ["e0"]
    later = await delivery.due_notifications(mongo_db, retry_at, 10)
    assert [d["_id"] for d in later] == ["n1"]


async def test_workers_racing_over_prefetched_batches_send_each_message_once(
    notify: Harness,
) -> None:
    """Two more workers than the app's own, each reading several batches of candidates at
    once, over the same due notifications: every message reaches the SMTP server once."""
    from crm_notify.channels import build_senders
    from crm_notify.handlers.ad_hoc import send_ad_hoc
    from crm_notify.worker import DeliveryWorker

    h = notify
    runtime = h.app.state.runtime
    run = uuid.uuid4().hex[:10]
    addresses = [f"race-{run}-{n}@example.com" for n in range(120)]
    for address in addresses:
        await send_ad_hoc(
            runtime,
            caller="race-test",
            recipient={"kind": "address", "id": address},
            channel=None,
            subject="Hall booked",
            body="Hall 2 is yours on Friday.",
            language="en",
            idempotency_key=None,
        )
    senders = build_senders(runtime.settings)
    extra = [DeliveryWorker(runtime, senders) for _ in range(2)]
    for worker in extra:
        worker.batch_size, worker.prefetch = 7, 5  # small batches: many claims to race over

    async def drain(worker: DeliveryWorker) -> None:
        while await worker.run_once():
            pass

    try:
        await asyncio.gather(*(drain(w) for w in extra))

        async def all_delivered() -> bool:
            return all(h.smtp.messages_to(a) for a in addresses)

        await eventually(all_delivered, what="every racing message delivered")
        assert sorted(len(h.smtp.messages_to(a)) for a in addresses) == [1] * len(addresses)
    finally:
        for sender in {id(s): s for s in senders.values()}.values():
            with contextlib.suppress(Exception):
                await sender.close()


async def test_fresh_notifications_come_first_in_due_order_and_retries_take_their_share(
    mongo_db: Any,
) -> None:
    await create_indexes(mongo_db)
    now = store_time()
    past = now - timedelta(minutes=1)
    fresh = [waiting(f"f{i:02d}", "pending", 0, past + timedelta(seconds=i)) for i in range(8)]
    retries = [
        waiting("r-twice", "retry", 2, past),
        waiting("r-once", "retry", 1, past + timedelta(seconds=1)),
        waiting("r-later", "retry", 1, now + timedelta(hours=1)),  # not due yet
    ]
    await mongo_db[NOTIFICATIONS].insert_many([*retries, *reversed(fresh)])
    fresh_ids = [d["_id"] for d in fresh]

    # Fresh work fills the batch: the retries still get their share, fewest attempts first.
    batch = await delivery.due_notifications(mongo_db, now, 4)
    assert [d["_id"] for d in batch] == ["f00", "f01", "f02", "r-once"]
    batch = await delivery.due_notifications(mongo_db, now, 4, retry_share=0.5)
    assert [d["_id"] for d in batch] == ["f00", "f01", "r-once", "r-twice"]

    # Read for several batches, the retries' share goes into the first of them.
    batch = await delivery.due_notifications(mongo_db, now, 8, retry_share=0.5, batch=4)
    assert [d["_id"] for d in batch] == ["f00", "f01", "r-once", "r-twice", *fresh_ids[2:6]]

    # Fresh work short of the batch: the due retries fill the rest.
    batch = await delivery.due_notifications(mongo_db, now, 20)
    assert [d["_id"] for d in batch] == [*fresh_ids, "r-once", "r-twice"]


async def test_a_batch_is_claimed_while_the_last_one_commits_and_sent_only_after_it(
    notify: Harness, monkeypatch: Any
) -> None:
    """The worker claims and reads the next batch while the previous batch's outcomes commit,
    and sends it only once they are written: at most one batch is ever sent and not recorded.
    The notifications are due a day from now, to this worker's clock alone: the app's own
    worker leaves them be, and this one is given only them as due (what earlier tests left
    waiting is due to its clock as well)."""
    from crm_notify.channels import Sender
    from crm_notify.worker import DeliveryWorker

    h = notify
    runtime = h.app.state.runtime
    ahead = timedelta(days=1)
    run = uuid.uuid4().hex[:10]
    due = utc_now() + ahead - timedelta(minutes=1)
    docs = [
        ad_hoc(f"{run}-{n:02d}", f"overlap-{run}-{n:02d}@example.com", f"{run}-{n}", due)
        for n in range(12)
    ]
    await notifications.insert_notifications(h.db, docs)
    ids = [d["_id"] for d in docs]
    steps: list[tuple[str, str]] = []
    real_due, real_claim, real_settle = (
        delivery.due_notifications, delivery.claim_batch, delivery.settle
    )  # fmt: skip

    async def due_notifications(db: Any, now: Any, limit: int, *args: Any, **kw: Any) -> Any:
        if now < utc_now() + ahead / 2:  # the app's own worker
            return await real_due(db, now, limit, *args, **kw)
        waiting = {"_id": {"$in": ids}, "status": "pending"}
        return await db[NOTIFICATIONS].find(waiting).sort("_id").limit(limit).to_list()

    async def claim_batch(*args: Any, **kwargs: Any) -> Any:
        claimed = await real_claim(*args, **kwargs)
        steps.extend(("claimed", str(d["_id"])) for d in claimed)
        return claimed

    async def settle(runtime: Any, token: str, outcomes: Any) -> Any:
        await asyncio.sleep(0.3)  # a slow commit: the next batch is claimed meanwhile
        held = await real_settle(runtime, token, outcomes)
        steps.extend(("written", nid) for nid, _, _ in outcomes)
        return held

    class Recording(Sender):
        async def send(self, channel: Any, message: Any) -> None:
            steps.append(("sent", message.to.split("@")[0].removeprefix("overlap-")))

    monkeypatch.setattr(delivery, "due_notifications", due_notifications)
    monkeypatch.setattr(delivery, "claim_batch", claim_batch)
    monkeypatch.setattr(delivery, "settle", settle)
    worker = DeliveryWorker(
        runtime, {c: Recording() for c in runtime.settings.configured_channels()},
        clock=lambda: utc_now() + ahead,
    )  # fmt: skip
    worker.batch_size, worker.prefetch = 4, 3
    try:
        assert await worker.run_once() == 12
        # Every outcome is written when run_once returns.
        stored = h.db[NOTIFICATIONS].find({"_id": {"$in": ids}})
        assert sorted([d["status"] async for d in stored]) == ["delivered"] * 12
        batches = [ids[i : i + 4] for i in range(0, 12, 4)]

        def at(step: str, nid: str) -> int:
            return steps.index((step, nid))

        assert sorted(nid for step, nid in steps if step == "sent") == ids  # each sent once
        for before, after in itertools.pairwise(batches):
            written = max(at("written", nid) for nid in before)
            # Claimed while the previous batch's outcomes were being written...
            assert max(at("claimed", nid) for nid in after) < written
            # ...and sent only after they were.
            assert min(at("sent", nid) for nid in after) > written
    finally:
        await h.db[NOTIFICATIONS].delete_many({"_id": {"$in": ids}})
