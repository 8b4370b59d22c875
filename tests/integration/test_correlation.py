"""One request's correlation id follows the work it causes, across services and background runs.

An invitation run is started with a chosen ``X-Correlation-ID``; the id comes back on the
response, is kept by the run (a background worker writes the invitations later), is carried by
every ``InvitationRequested`` (the envelope's field and the record's ``correlation_id`` header,
equal), is taken up by notify, reaches each delivered e-mail as its ``X-Correlation-ID`` header,
and is carried by notify's ``NotificationDelivered`` facts too, each caused by its request.
Campaigns and notify run in this process on the real stack; the e-mails go to a real SMTP
server on a loopback port.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer
from crm_campaigns.app import CampaignsSettings
from crm_campaigns.app import create as create_campaigns
from crm_contracts.common import ChannelAddresses, ChannelConsent
from crm_contracts.contacts import ClientRegistered, ClientSource, PersonAdded
from crm_contracts.envelope import Envelope
from crm_contracts.topics import CAMPAIGNS, NOTIFY
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    Language,
    RecipientKind,
)
from crm_kit.testing import (
    JwtKeys,
    MailSink,
    StackEndpoints,
    bearer,
    end_offsets,
    eventually,
    http_client,
    read_topic,
    running,
    service_env,
    stack_kafka_options,
)
from crm_notify.app import create as create_notify
from crm_notify.repository import recipient_key
from crm_notify.settings import NotifySettings

GUESTS = 3


def _header(record: Any, name: str) -> str | None:
    found = [v for k, v in record.headers or () if k == name]
    return found[0].decode() if found else None


async def test_an_invitation_runs_correlation_id_reaches_every_invitation_and_e_mail(
    stack: StackEndpoints, jwt_keys: JwtKeys, mail: tuple[MailSink, int]
) -> None:
    sink, smtp_port = mail
    tag = f"corr-{uuid.uuid4().hex[:8]}"
    domain = f"@{tag}.correlation.test"
    chosen = f"it-{uuid.uuid4().hex}"
    now = datetime.now(UTC) - timedelta(minutes=1)
    client_id = str(uuid.uuid4())
    client = ClientRegistered(
        client_id=client_id,
        kind=ClientKind.ORGANISATION,
        name=f"Correlation {tag}",
        status=ClientStatus.ACTIVE,
        tags=(tag,),
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=1,
        registered_at=now,
    )
    people = [
        PersonAdded(
            client_id=client_id,
            person_id=str(uuid.uuid4()),
            name=f"Guest {n}",
            language=Language.EN,
            channels=ChannelAddresses(email=f"guest{n}{domain}"),
            preferred_channel=Channel.EMAIL,
            version=1,
            consents=(ChannelConsent(channel=Channel.EMAIL, granted=True, at=now, source="test"),),
            added_at=now,
        )
        for n in range(GUESTS)
    ]
    campaigns = create_campaigns(CampaignsSettings(**service_env(stack, jwt_keys, "campaigns")))
    notify = create_notify(
        NotifySettings(
            **service_env(
                stack,
                jwt_keys,
                "notify",
                smtp_host="127.0.0.1",
                smtp_port=smtp_port,
                gateway_url=None,
                worker_poll_s=0.1,
            )
        )
    )
    headers = bearer(jwt_keys, "campaigns:read", "campaigns:write")
    producer = AIOKafkaProducer(**stack_kafka_options(stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        async with (
            running(campaigns),
            running(notify),
            http_client(campaigns, conformance=True) as http,
        ):
            for event in (client, *people):
                envelope = Envelope.wrap(event, producer="correlation-test")
                await producer.send_and_wait(
                    event.topic, envelope.to_bytes(), key=envelope.key.encode()
                )
            cdb, ndb = campaigns.state.runtime.db, notify.state.runtime.db
            person_ids = [p.person_id for p in people]
            keys = [recipient_key(RecipientKind.PERSON, p) for p in person_ids]

            async def both_projections_know_everyone() -> bool:
                in_campaigns = await cdb["people_projection"].count_documents(
                    {"_id": {"$in": person_ids}}
                )
                in_notify = await ndb["recipients"].count_documents({"_id": {"$in": keys}})
                return in_campaigns == in_notify == GUESTS

            await eventually(both_projections_know_everyone, within=60, what="the projections")

            programme = await http.post(
                "/programmes",
                json={
                    "name": tag,
                    "portrait": {"tags": [tag]},
                    "starts_on": "2031-01-01",
                    "ends_on": "2031-12-31",
                },
                headers=headers,
            )
            assert programme.status_code == 201, programme.text
            scheduled = await http.post(
                "/events",
                json={
                    "kind": "seminar",
                    "title": "Correlation seminar",
                    "place": {"venue": "Hall 3"},
                    "starts_at": "2031-05-01T10:00:00Z",
                    "ends_at": "2031-05-01T12:00:00Z",
                    "timezone": "UTC",
                    "programme_id": programme.json()["id"],
                },
                headers=headers,
            )
            assert scheduled.status_code == 201, scheduled.text
            event_id = scheduled.json()["id"]
            selected = await http.post(
                f"/events/{event_id}/participants/by-portrait", json={}, headers=headers
            )
            assert selected.status_code in (200, 201), selected.text

            campaigns_since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
            notify_since = await end_offsets(stack.kafka_bootstrap, NOTIFY)
            started = await http.post(
                f"/events/{event_id}/invitations",
                json={},
                headers={**headers, "X-Correlation-ID": chosen},
            )
            assert started.status_code == 202, started.text
            # The response names the id, and so does the run the worker picks up later.
            assert started.headers["X-Correlation-ID"] == chosen
            assert started.json()["correlation_id"] == chosen

            await eventually(
                lambda: len(sink.to_domain(domain)) >= GUESTS,
                within=90,
                what="every invitation e-mail",
            )

            def invitations(records: list[Any]) -> list[Any]:
                return [
                    r
                    for r in records
                    if Envelope.from_bytes(r.value).event_type == "InvitationRequested"
                    and Envelope.from_bytes(r.value).payload["event_id"] == event_id
                ]

            requested = invitations(
                await read_topic(
                    stack.kafka_bootstrap,
                    CAMPAIGNS,
                    since=campaigns_since,
                    stop_when=lambda rs: len(invitations(rs)) >= GUESTS,
                )
            )
            invitation_ids = set()
            assert len(requested) == GUESTS
            for record in requested:
                envelope = Envelope.from_bytes(record.value)
                assert envelope.correlation_id == chosen
                assert _header(record, "correlation_id") == chosen
                invitation_ids.add(str(envelope.event_id))

            delivered_to = sorted(str(m["To"]) for m in sink.to_domain(domain))
            assert delivered_to == sorted(f"guest{n}{domain}" for n in range(GUESTS))
            assert [m["X-Correlation-ID"] for m in sink.to_domain(domain)] == [chosen] * GUESTS

            def outcomes(records: list[Any]) -> list[Envelope]:
                envelopes = [Envelope.from_bytes(r.value) for r in records]
                return [
                    e
                    for e in envelopes
                    if e.event_type == "NotificationDelivered"
                    and e.payload.get("event_id") == event_id
                ]

            outcome_records = await read_topic(
                stack.kafka_bootstrap,
                NOTIFY,
                since=notify_since,
                stop_when=lambda rs: len(outcomes(rs)) >= GUESTS,
            )
            delivered = outcomes(outcome_records)
            assert len(delivered) == GUESTS
            assert {e.correlation_id for e in delivered} == {chosen}
            assert {e.causation_id for e in delivered} == invitation_ids
            ours = {str(e.event_id) for e in delivered}
            assert {
                _header(r, "correlation_id")
                for r in outcome_records
                if str(Envelope.from_bytes(r.value).event_id) in ours
            } == {chosen}
    finally:
        await producer.stop()
