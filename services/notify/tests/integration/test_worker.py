"""The delivery worker's scheduling on the real store: fresh notifications do not queue behind
retries, recipients that never become known end failed, old claim markers are deleted, due work
is found through due entries that follow the notifications (and are put right or re-created when
they do not)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

from crm_contracts.notify import NotificationFailed
from crm_contracts.topics import NOTIFY
from crm_kit.clock import utc_now
from crm_kit.testing import bearer, end_offsets, eventually
from crm_notify import repository as repo
from crm_notify.settings import NotifySettings
from crm_notify.worker import run_claim_cleanup
from pymongo import UpdateOne

from .conftest import Harness, final_notification, outcome_events, unique

UNKNOWN = 200


def unknown_recipient_retry(source_id: str, attempts: int, due_at: Any) -> dict[str, Any]:
    """A curator notice for an employee notify never heard of, waiting for another attempt."""
    now = utc_now()
    doc = repo.new_notification(
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
    run = uuid.uuid4().hex[:10]
    mine = {"source.event_id": {"$regex": f"^{run}-"}}
    later = utc_now() + timedelta(days=1)
    docs = [unknown_recipient_retry(f"{run}-{n}", 1, later) for n in range(UNKNOWN)]
    try:
        for start in range(0, UNKNOWN, 50):
            assert await repo.insert_notifications(h.db, docs[start : start + 50]) == 50
        # All of them due at once, an hour overdue, just before the fresh one arrives (the
        # notifications and their due entries, as the worker writes a retry's time).
        overdue = {"$set": {"next_attempt_at": utc_now() - timedelta(hours=1)}}
        made_due = await h.db["notifications"].update_many(mine, overdue)
        assert made_due.modified_count == UNKNOWN
        ids = [d["_id"] for d in docs]
        entries_due = await h.db[repo.DUE].update_many({"_id": {"$in": ids}}, overdue)
        assert entries_due.modified_count == UNKNOWN
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
        assert tried_first < UNKNOWN

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
        await h.db[repo.DUE].delete_many({"_id": {"$in": [d["_id"] for d in docs]}})


async def test_an_unknown_recipient_ends_failed_with_the_reason_after_its_attempt_cap(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    cap = h.app.state.runtime.settings.unknown_recipient_max_attempts
    source_id = f"{uuid.uuid4().hex}-cap"
    doc = unknown_recipient_retry(source_id, cap - 1, utc_now() - timedelta(seconds=1))
    assert await repo.insert_notifications(h.db, [doc]) == 1

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


async def test_claim_markers_older_than_the_retention_are_deleted_in_chunks(mongo_db: Any) -> None:
    now = utc_now()
    old = [
        {"_id": f"n{n}:0", "token": "t", "at": now - timedelta(days=2, seconds=n)}
        for n in range(120)
    ]
    recent = [{"_id": f"r{n}:0", "token": "t", "at": now - timedelta(minutes=n)} for n in range(5)]
    claims = mongo_db[repo.CLAIMS]
    for start in range(0, len(old), 50):
        await claims.insert_many(old[start : start + 50])
    await claims.insert_many(recent)
    settings = NotifySettings(claim_retention_s=86400.0, claim_cleanup_interval_s=0.1)
    cleaner = asyncio.create_task(
        run_claim_cleanup(SimpleNamespace(settings=settings, db=mongo_db))  # type: ignore[arg-type]
    )
    try:

        async def purged() -> bool:
            return await claims.count_documents({}) == len(recent)

        await eventually(purged, what="old claim markers deleted")
    finally:
        cleaner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await cleaner
    assert sorted([c["_id"] async for c in claims.find({})]) == sorted(c["_id"] for c in recent)


async def test_renewing_leases_extends_only_what_the_batch_still_holds(mongo_db: Any) -> None:
    now = utc_now()
    ends = now + timedelta(seconds=30)
    docs = [
        {"_id": f"n{n}", "status": "sending", "lease": "mine", "next_attempt_at": ends}
        for n in range(3)
    ]
    docs.append({"_id": "taken", "status": "sending", "lease": "other", "next_attempt_at": ends})
    await mongo_db[repo.NOTIFICATIONS].insert_many(docs)
    until = now + timedelta(minutes=2)

    kept = await repo.renew_leases(mongo_db, ["n0", "n1", "n2", "taken"], "mine", until)

    assert kept == {"n0", "n1", "n2"}
    stored = {d["_id"]: d async for d in mongo_db[repo.NOTIFICATIONS].find({})}
    assert [stored[f"n{n}"]["next_attempt_at"] for n in range(3)] == [until] * 3
    assert stored["taken"]["next_attempt_at"] == ends
    assert stored["taken"]["lease"] == "other"


async def test_the_repair_gives_no_entry_back_to_a_notification_sent_since_it_was_read(
    mongo_db: Any,
) -> None:
    """The repair's read of every waiting notification is a snapshot: one sent meanwhile (its
    outcome written, its entry deleted) must not get its entry back; one still waiting gets an
    entry from its current attempt and time, not the snapshot's."""
    now = store_time()
    later = now + timedelta(minutes=5)
    stored = [
        {"_id": "sent-meanwhile", "status": "delivered", "attempts": 1, "next_attempt_at": now},
        {"_id": "still-waiting", "status": "retry", "attempts": 2, "next_attempt_at": later},
        {"_id": "has-entry", "status": "pending", "attempts": 0, "next_attempt_at": now},
    ]
    await mongo_db[repo.NOTIFICATIONS].insert_many(stored)
    await mongo_db[repo.DUE].insert_one(repo.due_entry("has-entry", 0, now, now))
    # What the repair's scan saw earlier, when all three were waiting on their first attempt.
    seen = [{"_id": d["_id"], "attempts": 0, "next_attempt_at": now} for d in stored]

    assert await repo.restore_due_entries(mongo_db, seen, now) == 1

    entries = {d["_id"]: d async for d in mongo_db[repo.DUE].find({})}
    assert sorted(entries) == ["has-entry", "still-waiting"]
    assert entries["still-waiting"] == repo.due_entry("still-waiting", 2, later, now)


async def test_a_waiting_notification_without_its_due_entry_is_delivered_once_repaired(
    notify: Harness,
) -> None:
    """A notification stored before due entries existed (or written by hand) has no entry: the
    worker does not see it until the repair re-creates the entry; then it is sent once and its
    entry is gone with the outcome."""
    h = notify
    address = f"{unique('legacy')}@example.com"
    source_id = f"{uuid.uuid4().hex}-legacy"
    doc = repo.new_notification(
        {
            "_id": str(uuid.uuid4()),
            "kind": "ad_hoc",
            "recipient": {"kind": "address", "id": address},
            "source": {"event_id": source_id, "event_type": "AdHocSend"},
            "variables": {"subject": "Stored before", "body": "Kept in the store."},
            "event_id": None,
            "participant_id": None,
            "language_hint": "en",
            "preferred_hint": "email",
            "channel_hints": [],
            "address_channel": "email",
            "calendar": None,
        },
        utc_now(),
    )
    await h.db[repo.NOTIFICATIONS].insert_one(doc)
    # The worker polls every 0.1 s in this harness; a second later it still has not seen it.
    await asyncio.sleep(1.0)
    untouched = await h.db[repo.NOTIFICATIONS].find_one({"_id": doc["_id"]})
    assert (untouched["status"], untouched["attempts"]) == ("pending", 0)

    assert await repo.repair_due(h.db, utc_now()) >= 1

    notification = await final_notification(h, source_id)
    assert (notification["status"], notification["attempts"]) == ("delivered", 1)
    assert len(h.smtp.messages_to(address)) == 1

    async def entry_gone() -> bool:
        # Deleted right after the outcome is written, in the next command.
        return await h.db[repo.DUE].find_one({"_id": doc["_id"]}) is None

    await eventually(entry_gone, what="the due entry deleted with the outcome")
    # A second repair finds nothing missing for it: a delivered notification needs no entry.
    await repo.repair_due(h.db, utc_now())
    assert await h.db[repo.DUE].find_one({"_id": doc["_id"]}) is None


def store_time() -> Any:
    """Now, to the millisecond the store keeps, so times read back compare equal."""
    now = utc_now()
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def test_due_entries_that_disagree_with_their_notification_are_put_right(
    mongo_db: Any,
) -> None:
    now = store_time()
    grace = timedelta(minutes=10)
    lease_end = now + timedelta(minutes=2)

    def notification(nid: str, status: str, attempts: int, at: Any) -> dict[str, Any]:
        return {"_id": nid, "status": status, "attempts": attempts, "next_attempt_at": at}

    await mongo_db[repo.NOTIFICATIONS].insert_many(
        [
            notification("ready", "pending", 0, now - timedelta(seconds=5)),
            notification("retry-ready", "retry", 2, now - timedelta(seconds=1)),
            notification("leased", "sending", 1, lease_end),
            notification("delivered", "delivered", 1, now - timedelta(minutes=1)),
        ]
    )
    past = now - timedelta(seconds=1)
    await mongo_db[repo.DUE].insert_many(
        [
            repo.due_entry("ready", 0, now - timedelta(seconds=5), now),
            # An entry written before the retry: still says attempt 1.
            repo.due_entry("retry-ready", 1, past, now),
            # Claimed by a worker that died before moving the entry to the lease's end.
            repo.due_entry("leased", 0, past, now),
            # Written again by a redelivered request after the notification was sent.
            repo.due_entry("delivered", 0, past, now),
            # Its notification is being written right now (the entry goes first).
            repo.due_entry("young-orphan", 0, past, now - timedelta(seconds=3)),
            # Its notification was never written (the request was dead-lettered).
            repo.due_entry("old-orphan", 0, past, now - grace - timedelta(seconds=1)),
        ]
    )

    due = await repo.due_notifications(mongo_db, now, 10, orphan_grace=grace)

    assert [d["_id"] for d in due] == ["ready", "retry-ready"]
    entries = {e["_id"]: e async for e in mongo_db[repo.DUE].find({})}
    assert sorted(entries) == ["leased", "ready", "retry-ready", "young-orphan"]
    assert (entries["leased"]["next_attempt_at"], entries["leased"]["lane"]) == (
        lease_end,
        "retry",
    )
    assert entries["leased"]["attempts"] == 1
    # Looked at again after as long as it has existed (3 s).
    assert entries["young-orphan"]["next_attempt_at"] == now + timedelta(seconds=3)
    # A second look finds only what is due and leaves the rest as it was put.
    again = await repo.due_notifications(mongo_db, now, 10, orphan_grace=grace)
    assert [d["_id"] for d in again] == ["ready", "retry-ready"]


async def test_claiming_moves_due_entries_to_the_lease_end_and_outcomes_clear_them(
    mongo_db: Any,
) -> None:
    now = store_time()
    lease = timedelta(minutes=2)
    docs = [repo.new_notification({"_id": f"n{n}"}, now - timedelta(seconds=1)) for n in range(3)]
    assert await repo.insert_notifications(mongo_db, docs) == 3
    # The same requests again (a redelivered event): nothing new, one entry each.
    assert await repo.insert_notifications(mongo_db, docs) == 0
    assert await mongo_db[repo.DUE].count_documents({}) == 3

    due = await repo.due_notifications(mongo_db, now, 10, orphan_grace=timedelta(minutes=10))
    taken = await repo.claim_batch(mongo_db, due, now, lease, "mine")

    assert sorted(d["_id"] for d in taken) == ["n0", "n1", "n2"]
    entries = {e["_id"]: e async for e in mongo_db[repo.DUE].find({})}
    assert {(e["lane"], e["attempts"], e["next_attempt_at"]) for e in entries.values()} == {
        ("retry", 1, now + lease)
    }
    assert await repo.due_notifications(mongo_db, now, 10, orphan_grace=lease) == []

    retry_at = now + timedelta(seconds=30)
    delivered = {"status": "delivered", "lease": None}
    retried = {"status": "retry", "next_attempt_at": retry_at, "lease": None}
    await repo.settle(
        mongo_db,
        [
            UpdateOne({"_id": "n0", "lease": "mine"}, {"$set": delivered}),
            UpdateOne({"_id": "n1", "lease": "mine"}, {"$set": retried}),
        ],
    )
    await repo.apply_due_changes(
        mongo_db,
        [
            repo.due_change("n0", 1, delivered, now),
            repo.due_change("n1", 1, retried, now),
        ],
    )
    entries = {e["_id"]: e async for e in mongo_db[repo.DUE].find({})}
    assert sorted(entries) == ["n1", "n2"]
    assert entries["n1"]["next_attempt_at"] == retry_at
    later = await repo.due_notifications(mongo_db, retry_at, 10, orphan_grace=lease)
    assert [d["_id"] for d in later] == ["n1"]


async def test_workers_racing_over_prefetched_batches_send_each_message_once(
    notify: Harness,
) -> None:
    """Two more workers than the app's own, each reading several batches of candidates at
    once, over the same due notifications: every message reaches the SMTP server once."""
    from crm_notify.channels import build_senders
    from crm_notify.handlers import send_ad_hoc
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


async def test_due_candidates_take_fresh_entries_in_stored_order_and_retries_their_share(
    mongo_db: Any,
) -> None:
    now = utc_now()
    past = now - timedelta(minutes=1)
    fresh = [repo.due_entry(f"f{i:02d}", 0, past + timedelta(seconds=i), now) for i in range(8)]
    retries = [
        repo.due_entry("r-twice", 2, past, now),
        repo.due_entry("r-once", 1, past + timedelta(seconds=1), now),
        repo.due_entry("r-later", 1, now + timedelta(hours=1), now),  # not due yet
    ]
    await mongo_db[repo.DUE].insert_many([*retries, *fresh])

    # Fresh work fills the batch: the fresh entries in the order they were stored ...
    batch = await repo.due_candidates(mongo_db, now, 4, probe_retries=False)
    assert [e["_id"] for e in batch] == ["f00", "f01", "f02", "f03"]

    # ... and when the worker probes for retries, they take their share, fewest attempts first.
    batch = await repo.due_candidates(mongo_db, now, 4, retry_share=0.5, probe_retries=True)
    assert [e["_id"] for e in batch] == ["f00", "f01", "r-once", "r-twice"]

    # Fresh work short of the batch: the due retries fill the rest, probe or not.
    batch = await repo.due_candidates(mongo_db, now, 20, probe_retries=False)
    assert [e["_id"] for e in batch] == [*(e["_id"] for e in fresh), "r-once", "r-twice"]
