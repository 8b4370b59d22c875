"""Requests consumed from the broker end as real messages on a real SMTP server or gateway."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contracts.campaigns import EventRescheduled, TaskAssigned
from crm_contracts.common import ChannelAddresses, Place
from crm_contracts.contacts import ConsentChanged, EmployeeRegistered
from crm_contracts.envelope import Envelope
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Channel, Department, Language, TaskCategory
from crm_kit.testing import bearer, end_offsets, eventually
from crm_notify.repository.notifications import LOG_KEYS, source_key
from icalendar import Calendar

from .conftest import (
    GATEWAY_TOKEN,
    Harness,
    curator_told,
    delivered_by_email,
    final_notification,
    invitation_for,
    outcome_events,
    person_added,
    unique,
)


async def test_an_invitation_arrives_as_a_mime_message_with_the_calendar_entry_and_answer_link(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    address = f"{unique('anna')}@example.com"
    person = person_added(email=address, consents={Channel.EMAIL: True})
    invitation = invitation_for(person)
    await h.publish(person)
    source = await h.publish(invitation)

    notification, mail = await delivered_by_email(h, source, address)

    assert notification["channel"] == "email"
    assert notification["address"] == address
    assert notification["attempts"] == 1
    assert mail["Subject"] == f"Invitation: {invitation.event_title}"
    assert mail["To"] == address
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert text.get_content().startswith("Dear Anna Petrova,")
    assert f"Accept or decline: {invitation.answer_url}" in text.get_content()
    assert "When: 2026-12-03 10:00 – 2026-12-03 18:00 (Europe/Moscow)" in text.get_content()
    assert f'<a href="{invitation.answer_url}">' in html.get_content()
    [ics] = [p for p in mail.iter_attachments() if p.get_content_type() == "text/calendar"]
    assert ics.get_filename() == "invite.ics"
    calendar = Calendar.from_ical(ics.get_content())
    assert str(calendar["method"]) == "REQUEST"
    [vevent] = calendar.walk("VEVENT")
    assert str(vevent["summary"]) == invitation.event_title
    assert vevent.decoded("dtstart") == invitation.starts_at
    assert vevent.decoded("dtend") == invitation.ends_at
    assert str(vevent["url"]) == invitation.answer_url
    assert str(vevent["uid"]) == f"{invitation.event_id}.{invitation.participant_id}@crm"

    [envelope] = await outcome_events(h, since, notification)
    delivered = envelope.open_as(NotificationDelivered)
    assert envelope.producer == "notify"
    assert delivered.notification_id == notification["id"]
    assert delivered.source_event_id == str(source.event_id)
    assert delivered.source_event_type == "InvitationRequested"
    assert delivered.recipient == invitation.recipient
    assert delivered.event_id == invitation.event_id
    assert delivered.participant_id == invitation.participant_id
    assert delivered.channel is Channel.EMAIL
    assert delivered.attempts == 1


async def test_an_invitation_to_a_russian_speaker_is_rendered_in_russian(notify: Harness) -> None:
    h = notify
    address = f"{unique('ivan')}@example.ru"
    person = person_added(
        email=address, language=Language.RU, consents={Channel.EMAIL: True}, name="Иван Сидоров"
    )
    invitation = invitation_for(person, title="Станки-2026")
    await h.publish(person)
    _, mail = await delivered_by_email(h, await h.publish(invitation), address)
    assert mail["Subject"] == "Приглашение: Станки-2026"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    body = text.get_content()
    assert body.startswith("Уважаемый(ая) Иван Сидоров!")
    assert "Приглашаем вас на мероприятие «Станки-2026» (exhibition)." in body
    assert f"Принять или отклонить приглашение: {invitation.answer_url}" in body


async def test_without_consent_on_the_preferred_channel_the_next_consented_one_is_used(
    notify: Harness,
) -> None:
    h = notify
    address = f"{unique('olga')}@example.com"
    mobile = f"+7999{uuid.uuid4().int % 10**7:07d}"
    person = person_added(
        email=address,
        mobile=mobile,
        preferred=Channel.EMAIL,
        consents={Channel.EMAIL: False, Channel.MOBILE: True},
    )
    invitation = invitation_for(person)
    await h.publish(person)
    source = await h.publish(invitation)

    notification = await final_notification(h, source)

    assert (notification["status"], notification["channel"]) == ("delivered", "mobile")
    assert h.smtp.messages_to(address) == []
    [post] = h.gateway_posts_to(mobile)
    assert post["path"] == "/sms"
    assert post["headers"]["authorization"] == f"Bearer {GATEWAY_TOKEN}"
    assert post["headers"]["idempotency-key"] == notification["id"]
    assert post["body"]["channel"] == "mobile"
    assert post["body"]["reference"] == notification["id"]
    assert invitation.answer_url is not None
    assert invitation.answer_url in post["body"]["text"]


async def test_a_consent_withdrawn_between_request_and_send_is_honoured_and_nothing_is_sent(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    address = f"{unique('petr')}@example.com"
    person = person_added(email=address, consents={Channel.EMAIL: True})
    h.smtp.held.add(address)  # the server defers the message until the consent is gone
    await h.publish(person)
    source = await h.publish(invitation_for(person))
    await eventually(lambda: h.smtp.rcpt_attempts.get(address, 0) >= 1, what="a first attempt")

    await h.publish(
        ConsentChanged(
            client_id=person.client_id,
            person_id=person.person_id,
            channel=Channel.EMAIL,
            granted=False,
            at=datetime.now(UTC),
            source="unsubscribe_link",
        )
    )

    async def withdrawn() -> bool:
        doc = await h.db["recipients"].find_one({"_id": f"person:{person.person_id}"})
        return doc is not None and doc["consents"]["email"]["granted"] is False

    await eventually(withdrawn, what="the withdrawal in notify's projection")
    h.smtp.held.discard(address)

    notification = await final_notification(h, source)
    assert notification["status"] == "failed"
    assert notification["failure"] == "no_usable_channel"
    assert notification["last_error"] == (
        "no usable channel (email: no consent; mobile: no address; pager: no address; "
        "fax: no address)"
    )
    assert h.smtp.messages_to(address) == []
    [envelope] = await outcome_events(h, since, notification)
    failed = envelope.open_as(NotificationFailed)
    assert failed.channel is None
    assert failed.reason == notification["last_error"]
    assert failed.failure.value == "no_usable_channel"


async def test_the_same_source_event_delivered_three_times_sends_one_message(
    notify: Harness,
) -> None:
    h = notify
    address = f"{unique('triple')}@example.com"
    person = person_added(email=address, consents={Channel.EMAIL: True})
    invitation = invitation_for(person)
    await h.publish(person)
    source = Envelope.wrap(invitation, producer="test")
    for _ in range(3):
        await h.publish(invitation, source)

    assert (await final_notification(h, source))["status"] == "delivered"
    await asyncio.sleep(2.0)  # time for a second message, were there one
    assert len(h.smtp.messages_to(address)) == 1
    listed = await h.client.get(
        "/notifications",
        params={"recipient": person.person_id},
        headers=bearer(h.keys, "notify:read"),
    )
    assert [n["source_event_id"] for n in listed.json()["items"]] == [str(source.event_id)]


async def test_a_server_answering_451_twice_then_accepting_delivers_once(notify: Harness) -> None:
    h = notify
    address = f"{unique('grey')}@example.com"
    h.smtp.scripts[address] = ["451 4.3.0 try again later", "451 4.3.0 try again later"]
    person = person_added(email=address, consents={Channel.EMAIL: True})
    await h.publish(person)
    source = await h.publish(invitation_for(person))

    notification = await final_notification(h, source)

    assert (notification["status"], notification["attempts"]) == ("delivered", 3)
    assert h.smtp.rcpt_attempts[address] == 3
    assert len(h.smtp.messages_to(address)) == 1


async def test_a_550_rejection_fails_at_once_with_the_reason_and_is_not_retried(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    address = f"{unique('ghost')}@example.com"
    h.smtp.scripts[address] = ["550 5.1.1 no such user"]
    person = person_added(email=address, consents={Channel.EMAIL: True})
    await h.publish(person)
    invitation = invitation_for(person)
    source = await h.publish(invitation)

    notification = await final_notification(h, source)

    assert notification["status"] == "failed"
    assert notification["failure"] == "permanent"
    assert notification["last_error"] == "SMTP 550 5.1.1 no such user"
    assert notification["attempts"] == 1
    await asyncio.sleep(1.5)
    assert h.smtp.rcpt_attempts[address] == 1
    [envelope] = await outcome_events(h, since, notification)
    failed = envelope.open_as(NotificationFailed)
    assert failed.channel is Channel.EMAIL
    assert failed.failure.value == "permanent"
    assert failed.reason == "SMTP 550 5.1.1 no such user"
    assert failed.participant_id == invitation.participant_id
    assert failed.attempts == 1


async def test_while_the_gateway_is_down_the_message_waits_and_is_delivered_when_it_returns(
    notify: Harness,
) -> None:
    h = notify
    mobile = f"+7916{uuid.uuid4().int % 10**7:07d}"
    person = person_added(mobile=mobile, preferred=Channel.MOBILE, consents={Channel.MOBILE: True})
    await h.gateway.stop()
    try:
        await h.publish(person)
        source = await h.publish(invitation_for(person))

        async def retrying() -> Any:
            doc = await h.db["notifications"].find_one({LOG_KEYS: source_key(str(source.event_id))})
            return doc if doc and doc["status"] == "retry" and doc["attempts"] >= 2 else None

        waiting = await eventually(retrying, what="retries while the gateway is down")
        assert waiting["last_error"].startswith("gateway: ConnectError")
    finally:
        await h.gateway.start()

    notification = await final_notification(h, source)
    assert (notification["status"], notification["channel"]) == ("delivered", "mobile")
    assert notification["attempts"] >= 3
    assert len(h.gateway_posts_to(mobile)) == 1


async def test_a_rescheduled_event_tells_the_invited_and_the_open_task_assignees(
    notify: Harness,
) -> None:
    h = notify
    guest_address = f"{unique('guest')}@example.com"
    staff_address = f"{unique('staff')}@corp.example"
    person = person_added(email=guest_address, consents={Channel.EMAIL: True})
    employee = EmployeeRegistered(
        employee_id=str(uuid.uuid4()),
        name="Boris Orlov",
        department=Department.MARKETING,
        role="manager",
        language=Language.EN,
        channels=ChannelAddresses(email=staff_address),
        preferred_channel=Channel.EMAIL,
        active=True,
        version=1,
        registered_at=datetime.now(UTC),
    )
    invitation = invitation_for(person)
    await h.publish(person)
    await h.publish(employee)
    await h.publish(invitation)
    await h.publish(
        TaskAssigned(
            event_id=invitation.event_id,
            task_id=str(uuid.uuid4()),
            event_title=invitation.event_title,
            title="Book the hall",
            category=TaskCategory.VENUE,
            due_on=datetime(2026, 11, 30, tzinfo=UTC).date(),
            assignee_id=employee.employee_id,
            assigned_at=datetime.now(UTC),
        )
    )
    moved = datetime(2026, 12, 10, 7, 0, tzinfo=UTC)
    source = await h.publish(
        EventRescheduled(
            event_id=invitation.event_id,
            title=invitation.event_title,
            place=Place(venue="Expocentre"),
            previous_starts_at=invitation.starts_at,
            previous_ends_at=invitation.ends_at,
            starts_at=moved,
            ends_at=moved.replace(hour=15),
            timezone="Europe/Moscow",
            reason="the hall is being repaired",
            rescheduled_at=datetime.now(UTC),
            version=2,
        )
    )

    async def both_told() -> Any:
        response = await h.client.get(
            "/notifications",
            params={"source": str(source.event_id), "status": "delivered"},
            headers=bearer(h.keys, "notify:read"),
        )
        items = response.json()["items"]
        return items if len(items) == 2 else None

    told = await eventually(both_told, what="both recipients told of the move")
    assert sorted(n["recipient"]["id"] for n in told) == sorted(
        [person.person_id, employee.employee_id]
    )
    for address in (guest_address, staff_address):
        subjects = [m["Subject"] for m in h.smtp.messages_to(address)]
        assert f"Rescheduled: {invitation.event_title}" in subjects
    [staff_notice] = [
        m for m in h.smtp.messages_to(staff_address) if m["Subject"].startswith("Rescheduled")
    ]
    text = staff_notice.get_body(preferencelist=("plain",))
    assert text is not None
    assert "has moved from 2026-12-03 10:00 to 2026-12-10 10:00" in text.get_content()


async def test_a_saved_template_is_used_for_the_next_message_of_its_kind(notify: Harness) -> None:
    h = notify
    saved = await h.client.put(
        "/templates/curator_assigned/en",
        json={
            "subject": "Client {{ client_name }} is yours",
            "text": "Hi {{ recipient_name }}, please call {{ client_name }} this week.",
        },
        headers=bearer(h.keys, "notify:admin"),
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["customised"] is True
    address = f"{unique('curator')}@corp.example"
    source = await curator_told(h, address, "Vera Lis")

    _, mail = await delivered_by_email(h, source, address)
    assert mail["Subject"] == "Client Acme Tools is yours"
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert text.get_content().strip() == "Hi Vera Lis, please call Acme Tools this week."
