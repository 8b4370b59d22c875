"""`crm rebuild notify`: the recipients and the events' open tasks, replayed from the contacts
and campaigns topics, equal the live ones and can replace a damaged one, and the replay sends
nothing: the notifications its handlers queue stay in the scratch database, unsent."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiosmtpd.controller import Controller
from crm_contracts.campaigns import InvitationRequested, TaskAssigned, TaskCompleted
from crm_contracts.common import ChannelAddresses, ChannelConsent, Recipient
from crm_contracts.contacts import EmployeeRegistered, PersonAdded
from crm_contracts.values import Channel, RecipientKind
from crm_kit.app import create_app
from crm_kit.rebuild import rebuild
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    eventually,
    free_port,
    running,
    service_env,
)
from crm_notify.app import SPEC
from crm_notify.repository import NOTIFICATIONS, RECIPIENTS, TASKS, recipient_key
from crm_notify.settings import NotifySettings


class Mailbox:
    """An aiosmtpd handler keeping every accepted message's recipients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self.lock:
            self.received.extend(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self.lock:
            return len(self.received)


def _id() -> str:
    return str(uuid.uuid4())


async def test_notify_projections_rebuild_equal_repair_and_send_nothing(
    stack: StackEndpoints, jwt_keys: JwtKeys, replays: Any
) -> None:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        await _rebuild_while_mail_is_watched(stack, jwt_keys, replays, mailbox, controller.port)
    finally:
        controller.stop()


async def _rebuild_while_mail_is_watched(
    stack: StackEndpoints, jwt_keys: JwtKeys, replays: Any, mailbox: Mailbox, smtp_port: int
) -> None:
    spec = await replays.moved(SPEC, workers=True)  # the live service sends
    settings = NotifySettings(
        **service_env(
            stack,
            jwt_keys,
            "notify",
            consumer_start_at_end=False,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            worker_poll_s=0.1,
            answer_base_url="https://crm.example",
        )
    )
    client, person, employee, event_id, task_id = _id(), _id(), _id(), _id(), _id()
    at = datetime.now(UTC) - timedelta(minutes=5)
    suffix = uuid.uuid4().hex[:8]
    events = [
        replays.example(
            PersonAdded,
            client_id=client,
            person_id=person,
            channels=ChannelAddresses(email=f"person-{suffix}@example.test"),
            preferred_channel=Channel.EMAIL,
            consents=(ChannelConsent(channel=Channel.EMAIL, granted=True, at=at, source="api"),),
            version=1,
            added_at=at,
        ),
        replays.example(
            EmployeeRegistered,
            employee_id=employee,
            channels=ChannelAddresses(email=f"employee-{suffix}@example.test"),
            preferred_channel=Channel.EMAIL,
            active=True,
            version=1,
        ),
        replays.example(TaskAssigned, event_id=event_id, task_id=task_id, assignee_id=employee),
        replays.example(TaskCompleted, event_id=event_id, task_id=task_id),
        replays.example(
            InvitationRequested,
            event_id=event_id,
            participant_id=_id(),
            recipient=Recipient(kind=RecipientKind.PERSON, id=person, client_id=client),
            answer_token=f"tok-{suffix}",
            answer_url=None,
        ),
    ]
    await replays.publish(*events)

    app: Any = create_app(spec, settings)
    async with running(app):
        runtime = app.state.runtime
        db = runtime.db
        await replays.caught_up(settings.consumer_group)
        # The live service sent the invitation and the task's message, and is done sending.
        await eventually(lambda: mailbox.count() >= 2, what="the live messages", within=60)
        await eventually(
            lambda: _all_delivered(db), what="every live notification delivered", within=60
        )
        sent = mailbox.count()
        assert sent == 2

        # Left without its notifications, a replay queues them all again, in the scratch
        # database: the running worker (and SMTP) must never see them.
        await db[NOTIFICATIONS].delete_many({})
        report = await rebuild(spec, settings, keep_scratch=True)
        try:
            assert report.failures == []
            assert report.events_applied == len(events)
            by_name = {c.name: c for c in report.collections}
            assert (by_name[RECIPIENTS].live_count, by_name[TASKS].live_count) == (2, 1)
            assert report.equal, [
                (c.name, c.live_count, c.rebuilt_count) for c in report.collections
            ]
            scratch = runtime.client[report.scratch]
            queued = [d async for d in scratch[NOTIFICATIONS].find({})]
            assert sorted(d["kind"] for d in queued) == ["invitation", "task_assigned"]
            assert {d["status"] for d in queued} == {"pending"}
            await asyncio.sleep(2)  # twenty of the worker's polls
            assert mailbox.count() == sent
            assert await db[NOTIFICATIONS].count_documents({}) == 0
        finally:
            await runtime.client.drop_database(report.scratch)

        key = recipient_key(RecipientKind.PERSON, person)
        kept = await db[RECIPIENTS].find_one({"_id": key})
        await db[RECIPIENTS].delete_one({"_id": key})
        await db[TASKS].update_one({"_id": task_id}, {"$set": {"open": True}})
        damaged = await rebuild(spec, settings)
        assert {c.name for c in damaged.collections if not c.equal} == {RECIPIENTS, TASKS}
        repaired = await rebuild(spec, settings, apply=True)
        assert repaired.applied
        assert await db[RECIPIENTS].find_one({"_id": key}) == kept
        assert (await db[TASKS].find_one({"_id": task_id}))["open"] is False
        assert (await rebuild(spec, settings)).equal
        assert mailbox.count() == sent


async def _all_delivered(db: Any) -> bool:
    statuses = [d["status"] async for d in db[NOTIFICATIONS].find({}, {"status": 1})]
    return len(statuses) == 2 and set(statuses) == {"delivered"}
