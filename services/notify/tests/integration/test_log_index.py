"""The notifications' four indexes on the real store (decision 0080): every read of the delivery
log, a person's copies and an event's audience is one range of the log-keys index with no sort
in memory; status writes keep the keys true; an older database is upgraded at start."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from crm_contracts.values import NotificationKind, RecipientKind
from crm_kit.query_plans import profile_every_operation
from crm_kit.retention import ensure_ttl_indexes
from crm_kit.store_format import FORMATS
from crm_notify.domain import Status
from crm_notify.repository import NOTIFICATIONS, personal, recipients
from crm_notify.repository import audience as audience_repo
from crm_notify.repository import notifications as repo
from crm_notify.repository.indexes import FORMAT, backfill_log_keys, create_indexes
from crm_notify.settings import NotifySettings
from pymongo import ASCENDING, DESCENDING

FOUR_INDEXES = {
    "_id_",
    "status_1_attempts_1_next_attempt_at_1",
    "log_keys_1_seq_-1",
    "settled_at_ttl",
}
START = datetime.now(UTC).replace(microsecond=0) - timedelta(days=7)
"""Recent enough that no TTL index of the retention's expires what the tests store."""
K = NotificationKind


def stored(
    n: int,
    recipient: str,
    kind: NotificationKind = K.STAFF_NOTICE,
    *,
    source: str | None = None,
    event_id: str | None = None,
    recipient_kind: RecipientKind = RecipientKind.PERSON,
) -> dict[str, Any]:
    """The ``n``-th notification, made one minute after the one before, as the service stores it."""
    return repo.new_notification(
        {
            "_id": f"n{n:03d}",
            "kind": kind.value,
            "recipient": {"kind": recipient_kind.value, "id": recipient, "client_id": None},
            "source": {"event_id": source or f"src-{n}", "event_type": "Test"},
            "correlation_id": "c",
            "event_id": event_id,
        },
        START + timedelta(minutes=n),
    )


def ids(docs: list[dict[str, Any]]) -> list[str]:
    return [str(d["_id"]) for d in docs]


async def _log(db: Any, **filters: Any) -> list[str]:
    options: dict[str, Any] = {
        "recipient": None,
        "kind": None,
        "status": None,
        "source": None,
        "since": None,
        "until": None,
        "after": None,
        "limit": 100,
    }
    return ids(await repo.list_notifications(db, **{**options, **filters}))


async def _set_status(db: Any, nid: str, status: Status) -> None:
    await db[NOTIFICATIONS].update_one({"_id": nid}, {"$set": repo.status_change(status)})


async def test_every_read_of_the_log_is_one_range_of_the_log_index_in_order(mongo_db: Any) -> None:
    db = mongo_db
    await create_indexes(db)
    await ensure_ttl_indexes(db, NotifySettings().retention())
    docs = [
        stored(0, "ann", K.INVITATION, event_id="ev-1", source="shared"),
        stored(1, "bob", K.INVITATION, event_id="ev-1", source="shared"),
        stored(2, "ann", K.EVENT_RESCHEDULED, event_id="ev-1"),
        stored(3, "ann@example.com", K.AD_HOC, recipient_kind=RecipientKind.ADDRESS),
        stored(4, "bob", K.INVITATION, event_id="ev-2"),
        stored(5, "ann", K.STAFF_NOTICE),
    ]
    assert await repo.insert_notifications(db, docs) == len(docs)
    await _set_status(db, "n001", Status.SENDING)
    await _set_status(db, "n001", Status.FAILED)
    await _set_status(db, "n004", Status.DELIVERED)
    names = {i["name"] async for i in await db[NOTIFICATIONS].list_indexes()}
    assert names == FOUR_INDEXES

    await profile_every_operation(db)
    assert await _log(db) == ["n005", "n004", "n003", "n002", "n001", "n000"]
    assert await _log(db, recipient="ann") == ["n005", "n002", "n000"]
    assert await _log(db, recipient="ann@example.com", by_address=False) == []
    assert await _log(db, kind=K.INVITATION) == ["n004", "n001", "n000"]
    assert await _log(db, status=Status.FAILED) == ["n001"]
    assert await _log(db, status=Status.PENDING) == ["n005", "n003", "n002", "n000"]
    assert await _log(db, source="shared") == ["n001", "n000"]
    assert await _log(db, recipient="bob", kind=K.INVITATION, status=Status.DELIVERED) == ["n004"]
    page = await repo.list_notifications(
        db,
        recipient="ann",
        kind=None,
        status=None,
        source=None,
        since=START + timedelta(minutes=1),
        until=None,
        after=docs[5]["seq"],
        limit=1,
    )
    assert ids(page) == ["n002"]
    audience = await audience_repo.event_audience(db, "ev-1")
    assert [r["id"] for r in audience] == ["ann", "bob"]
    held = await personal.held_about(db, "ann")
    assert ids(held["notifications"]) == ["n005", "n002", "n000"]
    await personal.forget_person(db, "bob", START)
    await recipients.forget_people(db, ["bob"])  # bob's settled ones go, none waits

    await db.command("profile", 0)
    reads = [
        op
        async for op in db["system.profile"].find(
            {"ns": f"{db.name}.{NOTIFICATIONS}", "op": {"$in": ["query", "update", "remove"]}}
        )
    ]
    assert len(reads) >= 12
    for op in reads:
        assert op["planSummary"] == "IXSCAN { log_keys: 1, seq: -1 }", op["command"]
        assert not op.get("hasSortStage"), op["command"]
    assert await _log(db, recipient="bob") == []


async def test_each_status_write_keeps_the_keys_true_and_a_settled_one_has_its_date(
    mongo_db: Any,
) -> None:
    """Through the worker's own writes: a claim, a retry, a failure, a delivery."""
    from crm_notify.repository import delivery

    db = mongo_db
    await create_indexes(db)
    docs = [stored(n, f"p{n}") for n in range(3)]
    await repo.insert_notifications(db, docs)
    now = START + timedelta(hours=1)
    claimed = await delivery.claim_batch(db, docs, now, timedelta(minutes=1), "w")
    assert len(claimed) == 3
    for doc in await db[NOTIFICATIONS].find({}).to_list():
        assert doc[repo.LOG_KEYS] == repo.log_keys(doc)
        assert doc[repo.LOG_KEYS][0] == "s:sending"
    assert await _log(db, status=Status.SENDING) == ["n002", "n001", "n000"]
    assert await _log(db, status=Status.PENDING) == []


async def test_an_older_database_gets_the_four_indexes_and_every_notification_its_keys(
    mongo_db: Any,
) -> None:
    db = mongo_db
    n = db[NOTIFICATIONS]
    # The indexes and documents as the format before made them.
    await n.create_index([("status", 1), ("attempts", 1), ("next_attempt_at", 1)])
    await n.create_index([("seq", DESCENDING)])
    for field in ("recipient.id", "kind", "status", "source.event_id"):
        await n.create_index([(field, ASCENDING), ("seq", DESCENDING)])
    await n.create_index([("event_id", 1), ("kind", 1), ("_id", 1)])
    await n.create_index("delivered_at", expireAfterSeconds=10**9, name="delivered_at_ttl")
    await n.create_index("failed_at", expireAfterSeconds=10**9, name="failed_at_ttl")
    old = [
        stored(0, "ann", K.INVITATION, event_id="ev-1"),
        stored(1, "ann", K.STAFF_NOTICE),
        stored(2, "bob", K.INVITATION, event_id="ev-1"),
        stored(3, "cid", K.STAFF_NOTICE),
    ]
    delivered_at = START + timedelta(days=1)
    failed_at = START + timedelta(days=2)
    old[0].update(status="delivered", delivered_at=delivered_at)
    old[1].update(status="failed", failed_at=failed_at)
    for doc in old:
        del doc[repo.LOG_KEYS]
    # A worker of this version claimed one stored without keys: its status key landed alone.
    old[3][repo.LOG_KEYS] = {"0": "s:sending"}
    old[3]["status"] = "sending"
    await n.insert_many(old)

    await create_indexes(db)
    await ensure_ttl_indexes(db, NotifySettings().retention())

    names = {i["name"] async for i in await n.list_indexes()}
    assert names == FOUR_INDEXES
    assert await db[FORMATS].find_one({"_id": NOTIFICATIONS}) == {
        "_id": NOTIFICATIONS,
        "format": FORMAT,
    }
    after = {d["_id"]: d async for d in n.find({})}
    for doc in after.values():
        assert doc[repo.LOG_KEYS] == repo.log_keys(doc)
    assert after["n000"]["settled_at"] == delivered_at
    assert after["n001"]["settled_at"] == failed_at
    assert "settled_at" not in after["n002"]
    assert await _log(db, recipient="ann") == ["n001", "n000"]
    assert await _log(db, status=Status.SENDING) == ["n003"]
    assert [r["id"] for r in await audience_repo.event_audience(db, "ev-1")] == ["ann", "bob"]

    # Again (a second start, or a second instance): nothing left to do, nothing changes.
    await create_indexes(db)
    assert await backfill_log_keys(db) == 0
    assert {d["_id"]: d async for d in n.find({})} == after
