"""Unsubscribing from marketing messages on the real stack: an invitation e-mail carries the
one-click unsubscribe (RFC 8058) and the check-in QR code; the public ``/u/{token}`` withdraws
the channel at once, publishes ``UnsubscribeRequested`` once, and the next invitation is not
sent by e-mail; a staff message carries no unsubscribe; a forged link is a 404."""

from __future__ import annotations

import uuid
from email.message import EmailMessage
from typing import Any

import segno
from crm_contracts.envelope import Envelope
from crm_contracts.notify import UnsubscribeRequested
from crm_contracts.topics import NOTIFY
from crm_contracts.values import Channel, Language, UnsubscribeMethod
from crm_kit.testing import end_offsets, read_topic
from crm_notify.links import UnsubscribeClaims, UnsubscribeSigner
from crm_notify.marketing import check_in_qr_png

from .conftest import (
    Harness,
    curator_told,
    delivered_by_email,
    final_notification,
    invitation_for,
    person_added,
    unique,
)


def _unsubscribe_url(mail: EmailMessage) -> str:
    header = str(mail["List-Unsubscribe"]).strip()  # a long header is folded
    assert header.startswith("<https://")
    assert header.endswith(">")
    return header[1:-1]


def _path(url: str) -> str:
    return url.split("://", 1)[1].split("/", 1)[1].join(["/", ""])


async def _unsubscriptions(h: Harness, since: dict[int, int], client_id: str) -> list[Envelope]:
    key = client_id.encode()
    records = await read_topic(
        h.stack.kafka_bootstrap,
        NOTIFY,
        since=since,
        stop_when=lambda rs: any(r.key == key for r in rs),
        until_idle=1.5,
    )
    found = [Envelope.from_bytes(r.value) for r in records if r.key == key]
    return [e for e in found if e.event_type == "UnsubscribeRequested"]


async def test_an_invitation_e_mail_carries_one_click_unsubscribe_and_the_check_in_qr_code(
    notify: Harness,
) -> None:
    h = notify
    address = f"{unique('olga')}@example.com"
    person = person_added(email=address, consents={Channel.EMAIL: True})
    await h.publish(person)
    invitation = invitation_for(person)
    _, mail = await delivered_by_email(h, await h.publish(invitation), address)

    url = _unsubscribe_url(mail)
    assert url.startswith("https://mail.crm.example/u/")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert text is not None
    assert html is not None
    assert f"unsubscribe: {url}" in text.get_content()
    assert f'<a href="{url}">Unsubscribe</a>' in html.get_content()

    # The QR code: an inline PNG in the multipart/related beside the HTML, shown by Content-ID.
    [related] = [p for p in mail.walk() if p.get_content_type() == "multipart/related"]
    [image] = [p for p in related.walk() if p.get_content_type() == "image/png"]
    cid = str(image["Content-ID"]).strip("<>")
    assert f'<img src="cid:{cid}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == check_in_qr_png(invitation.check_in_code or "")
    # …of exactly the check-in code (as the check-in takes it).
    expected = segno.make(invitation.check_in_code.upper(), micro=False)  # type: ignore[union-attr]
    ours = segno.make("k-4711".upper(), micro=False)
    assert ours.matrix == expected.matrix


async def test_one_click_unsubscribes_at_once_once_and_the_next_invitation_is_not_e_mailed(
    notify: Harness,
) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    address = f"{unique('ilya')}@example.com"
    person = person_added(
        email=address, consents={Channel.EMAIL: True}, language=Language.RU, name="Илья"
    )
    await h.publish(person)
    first, mail = await delivered_by_email(h, await h.publish(invitation_for(person)), address)
    path = _path(_unsubscribe_url(mail))

    # A link scanner's GET changes nothing: the page asks, in the person's language.
    page = await h.client.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "Отписаться" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    recipient = await h.db["recipients"].find_one({"_id": f"person:{person.person_id}"})
    assert recipient["consents"]["email"]["granted"] is True

    # The mail provider's one-click POST (RFC 8058): no session, no token, just the form.
    for _ in range(2):
        done = await h.client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200, done.text
        assert "Вы отписаны" in done.text
    recipient = await h.db["recipients"].find_one({"_id": f"person:{person.person_id}"})
    assert recipient["consents"]["email"]["granted"] is False

    [envelope] = await _unsubscriptions(h, since, person.client_id)
    request = envelope.open_as(UnsubscribeRequested)
    assert envelope.producer == "notify"
    assert (request.client_id, request.person_id, request.channel) == (
        person.client_id,
        person.person_id,
        Channel.EMAIL,
    )
    assert request.method is UnsubscribeMethod.ONE_CLICK
    assert request.notification_id == first["id"]

    # Honoured at the next send, before contacts has said anything.
    second = await final_notification(h, await h.publish(invitation_for(person)))
    assert second["status"] == "failed"
    assert second["failure"] == "no_usable_channel"
    assert "email: no consent" in second["last_error"]
    assert len(h.smtp.messages_to(address)) == 1


async def test_a_staff_message_carries_no_unsubscribe(notify: Harness) -> None:
    h = notify
    address = f"{unique('staff')}@corp.example"
    source = await curator_told(h, address, "Gleb Orlov")
    assert (await final_notification(h, source))["status"] == "delivered"
    [mail] = h.smtp.messages_to(address)
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None
    text = mail.get_body(preferencelist=("plain",))
    assert text is not None
    assert "/u/" not in text.get_content()


def _tampered(token: str) -> str:
    payload, _, signature = token.rpartition(".")
    return f"{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{signature}"


async def test_a_forged_or_tampered_link_is_a_404_and_changes_nothing(notify: Harness) -> None:
    h = notify
    since = await end_offsets(h.stack.kafka_bootstrap, NOTIFY)
    client_id = str(uuid.uuid4())
    claims = UnsubscribeClaims(person_id="per-x", client_id=client_id, channel=Channel.EMAIL)
    genuine = UnsubscribeSigner(h.app.state.settings.link_secret).sign(claims)
    forged = UnsubscribeSigner("not-the-secret").sign(claims)
    for token in (forged, _tampered(genuine), "garbage", "x" * 900):
        for method in ("GET", "POST"):
            response = await h.client.request(
                method, f"/u/{token}", data={"List-Unsubscribe": "One-Click"}
            )
            assert response.status_code == 404, (method, token, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["errors"][0]["field"] == "path.token"
    browser = await h.client.get(f"/u/{forged}", headers={"Accept": "text/html"})
    assert browser.status_code == 404
    assert browser.headers["content-type"].startswith("text/html")
    assert "Ссылка недействительна" in browser.text  # the service's default language
    assert await _no_unsubscription(h, since, client_id)


async def _no_unsubscription(h: Harness, since: dict[int, int], client_id: str) -> bool:
    records: list[Any] = await read_topic(
        h.stack.kafka_bootstrap, NOTIFY, since=since, until_idle=1.0, within=3.0
    )
    return all(r.key != client_id.encode() for r in records)
