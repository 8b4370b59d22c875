"""One-click unsubscribe across services: contacts registers a person who consented to e-mail;
an invitation (as campaigns asks for it) reaches them by e-mail with ``List-Unsubscribe`` and
``List-Unsubscribe-Post``; the mail provider's one-click POST to notify's ``/u/{token}``
withdraws the e-mail consent in contacts (``UnsubscribeRequested`` → ``ConsentChanged``), and
the next invitation to that person is not sent by e-mail. Contacts and notify run in this
process on the real stack; the e-mails go to a real SMTP server on a loopback port."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from crm_contacts.app import ContactsSettings
from crm_contacts.app import create as create_contacts
from crm_contracts.campaigns import InvitationRequested
from crm_contracts.common import Place, Recipient
from crm_contracts.envelope import Envelope
from crm_contracts.values import ParticipantRole, RecipientKind
from crm_kit.testing import (
    JwtKeys,
    MailSink,
    StackEndpoints,
    bearer,
    eventually,
    http_client,
    running,
    service_env,
    stack_kafka_options,
)
from crm_notify.app import create as create_notify
from crm_notify.repository import recipient_key
from crm_notify.settings import NotifySettings


def _invitation(client_id: str, person_id: str) -> InvitationRequested:
    starts = datetime.now(UTC) + timedelta(days=30)
    token = uuid.uuid4().hex
    return InvitationRequested(
        event_id=str(uuid.uuid4()),
        participant_id=str(uuid.uuid4()),
        recipient=Recipient(kind=RecipientKind.PERSON, id=person_id, client_id=client_id),
        role=ParticipantRole.GUEST,
        event_title="Pumps seminar",
        event_kind="seminar",
        place=Place(venue="Expocentre"),
        starts_at=starts,
        ends_at=starts + timedelta(hours=3),
        timezone="Europe/Moscow",
        answer_token=token,
        answer_url=f"https://events.example/i/{token}",
        check_in_code="5F3A9C01",
        requested_at=datetime.now(UTC),
    )


async def test_one_click_unsubscribe_withdraws_consent_in_contacts_and_stops_e_mail(
    stack: StackEndpoints, jwt_keys: JwtKeys, mail: tuple[MailSink, int]
) -> None:
    sink, smtp_port = mail
    contacts_app = create_contacts(ContactsSettings(**service_env(stack, jwt_keys, "contacts")))
    notify_app = create_notify(
        NotifySettings(
            **service_env(
                stack,
                jwt_keys,
                "notify",
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                gateway_url=None,
                worker_poll_s=0.1,
                public_base_url="https://mail.crm.example",
            )
        )
    )
    writer = bearer(jwt_keys, "contacts:write", "contacts:read")
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()

    async def request(invitation: InvitationRequested) -> Envelope:
        envelope = Envelope.wrap(invitation, producer="campaigns")
        await producer.send_and_wait(
            invitation.topic, envelope.to_bytes(), key=invitation.aggregate_key().encode()
        )
        return envelope

    try:
        async with (
            running(contacts_app),
            running(notify_app),
            http_client(contacts_app, conformance=True) as contacts,
            http_client(notify_app, conformance=True) as notify,
        ):
            address = f"unsub-{uuid.uuid4().hex[:8]}@example.com"
            client = await contacts.post(
                "/clients", json={"name": f"Unsub {uuid.uuid4().hex[:6]}"}, headers=writer
            )
            assert client.status_code == 201, client.text
            client_id = client.json()["id"]
            added = await contacts.post(
                f"/clients/{client_id}/people",
                json={
                    "name": "Daria Unsub",
                    "language": "en",
                    "channels": {"email": address},
                    "preferred_channel": "email",
                    "consents": ["email"],
                },
                headers=writer,
            )
            assert added.status_code == 201, added.text
            person_id = added.json()["id"]
            notify_db = notify_app.state.runtime.db
            key = recipient_key(RecipientKind.PERSON, person_id)

            async def known() -> Any:
                return await notify_db["recipients"].find_one({"_id": key})

            await eventually(known, what="the person in notify's projection")

            await request(_invitation(client_id, person_id))
            [invited] = await eventually(lambda: sink.to(address), what="the invitation e-mail")
            assert invited["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            link = str(invited["List-Unsubscribe"]).strip()[1:-1]
            assert link.startswith("https://mail.crm.example/u/")
            text = invited.get_body(preferencelist=("plain",))
            assert text is not None
            assert link in text.get_content()

            # The provider's one-click POST: no session, no token, the RFC 8058 form only.
            clicked = await notify.post(
                link.removeprefix("https://mail.crm.example"),
                data={"List-Unsubscribe": "One-Click"},
            )
            assert clicked.status_code == 200, clicked.text

            async def withdrawn_in_contacts() -> Any:
                got = await contacts.get(f"/clients/{client_id}/people/{person_id}", headers=writer)
                email = next(c for c in got.json()["consents"] if c["channel"] == "email")
                return email if email["granted"] is False else None

            consent = await eventually(withdrawn_in_contacts, what="the consent withdrawn")
            assert consent["source"] == "unsubscribe_link"

            # The next invitation: recorded as failed for want of a usable channel, no e-mail.
            second = await request(_invitation(client_id, person_id))

            async def outcome() -> Any:
                got = await notify.get(
                    "/notifications",
                    params={"source": str(second.event_id)},
                    headers=bearer(jwt_keys, "notify:read"),
                )
                items = got.json()["items"]
                return items[0] if items and items[0]["status"] in ("delivered", "failed") else None

            notification = await eventually(outcome, what="the second invitation's outcome")
            assert notification["status"] == "failed"
            assert notification["failure"] == "no_usable_channel"
            assert "email: no consent" in notification["last_error"]
            assert len(sink.to(address)) == 1
    finally:
        await producer.stop()
