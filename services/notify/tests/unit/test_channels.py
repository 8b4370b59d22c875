"""The gateway adapter's request and failure classes, SMTP reply classes, settings guards."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest
from crm_contracts.values import Channel
from crm_notify.channels import HttpGatewaySender, Outgoing, _smtp_failure
from crm_notify.domain import DeliveryFailure
from crm_notify.settings import NotifySettings
from crm_notify.smtp import wire_message, wire_size
from pydantic import ValidationError

MESSAGE = Outgoing(
    to="+79990000001", subject="Hello", text='Line "one"\nline two', html="", reference="n-1"
)


def gateway(answer: httpx.Response, seen: list[httpx.Request]) -> HttpGatewaySender:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answer

    settings = NotifySettings(gateway_url="https://sms.example/send", gateway_token="t0k")
    return HttpGatewaySender(settings, httpx.AsyncClient(transport=httpx.MockTransport(handle)))


async def test_the_gateway_gets_the_rendered_json_body_with_the_auth_header() -> None:
    seen: list[httpx.Request] = []
    await gateway(httpx.Response(202), seen).send(Channel.MOBILE, MESSAGE)
    [request] = seen
    assert request.headers["authorization"] == "Bearer t0k"
    assert request.headers["idempotency-key"] == "n-1"
    assert json.loads(request.content) == {
        "to": "+79990000001",
        "channel": "mobile",
        "text": 'Line "one"\nline two',
        "reference": "n-1",
    }


async def test_the_gateway_call_carries_the_requests_correlation_id() -> None:
    import dataclasses

    seen: list[httpx.Request] = []
    traced = dataclasses.replace(MESSAGE, correlation_id="corr-gw-1")
    await gateway(httpx.Response(202), seen).send(Channel.MOBILE, traced)
    await gateway(httpx.Response(202), seen).send(Channel.MOBILE, MESSAGE)
    assert seen[0].headers["x-correlation-id"] == "corr-gw-1"
    assert "x-correlation-id" not in seen[1].headers


def test_an_e_mail_carries_the_requests_correlation_id() -> None:
    import dataclasses
    from email import message_from_bytes
    from email.policy import default

    from crm_notify.channels import build_email

    settings = NotifySettings(
        environment="development", kafka_bootstrap="kafka:9092", jwt_public_key_file=None
    )
    outgoing = Outgoing(
        to="ivan@example.ru",
        subject="Invitation",
        text="Dear Ivan",
        html="<p>Dear Ivan</p>",
        reference="n-2",
        correlation_id="corr-mail-1",
    )
    parsed = message_from_bytes(build_email(settings, outgoing).data, policy=default)
    assert parsed["X-Correlation-ID"] == "corr-mail-1"
    # An id from another producer's event that could not be a header's value is left out.
    forged = dataclasses.replace(outgoing, correlation_id="x\r\nBcc: victim@example.com")
    parsed = message_from_bytes(build_email(settings, forged).data, policy=default)
    assert parsed["X-Correlation-ID"] is None
    assert parsed["Bcc"] is None


@pytest.mark.parametrize(
    ("status", "transient"), [(503, True), (500, True), (429, True), (400, False), (404, False)]
)
async def test_gateway_5xx_is_transient_and_4xx_permanent(status: int, transient: bool) -> None:
    with pytest.raises(DeliveryFailure) as caught:
        await gateway(httpx.Response(status, json={"error": "x"}), []).send(Channel.PAGER, MESSAGE)
    assert caught.value.transient is transient
    assert caught.value.reason == f'gateway {status} {{"error": "x"}}'


def test_smtp_4xx_replies_are_transient_and_5xx_permanent() -> None:
    assert _smtp_failure(451, "4.3.0 try later").transient is True
    assert _smtp_failure(550, "5.1.1 no such user").transient is False
    assert _smtp_failure(550, "5.1.1 no such user").reason == "SMTP 550 5.1.1 no such user"


def test_production_refuses_the_development_secrets(tmp_path: Path) -> None:
    key = tmp_path / "jwt-public.pem"
    key.write_text("not checked here")
    with pytest.raises(ValidationError, match="smtp_password"):
        NotifySettings(environment="production", oidc_issuer=None, jwt_public_key_file=key)
    with pytest.raises(ValidationError, match="gateway_token"):
        NotifySettings(
            environment="production",
            oidc_issuer=None,
            jwt_public_key_file=key,
            smtp_password="real-secret",
        )
    with pytest.raises(ValidationError, match="link_secret"):
        NotifySettings(
            environment="production",
            oidc_issuer=None,
            jwt_public_key_file=key,
            smtp_password="real-secret",
            gateway_token="real-token",
        )


@pytest.mark.parametrize(
    "subject",
    [
        "Invitation: Seminar",
        "Приглашение: семинар «Новые продукты» — тема длиннее одной строки заголовка письма",
    ],
)
def test_an_e_mail_reads_back_as_written_in_any_language(subject: str) -> None:
    from email import message_from_bytes
    from email.policy import default

    from crm_notify.channels import Attachment, build_email

    settings = NotifySettings(
        environment="development",
        kafka_bootstrap="kafka:9092",
        jwt_public_key_file=None,
        mail_from="Отдел маркетинга <crm@example.ru>",
    )
    ics = b"BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    outgoing = Outgoing(
        to="ivan@example.ru",
        subject=subject,
        text="Уважаемый Иван,\nждём вас.",
        html="<p>Уважаемый Иван</p>",
        reference="0b0e9c8a-1111-2222-3333-444455556666",
        attachments=(Attachment("invite.ics", ics, "text", "calendar", (("method", "REQUEST"),)),),
    )

    mail = build_email(settings, outgoing)
    parsed = message_from_bytes(mail.data, policy=default)

    assert (mail.sender, mail.recipients) == ("crm@example.ru", ("ivan@example.ru",))
    assert parsed["Subject"] == subject
    assert parsed["From"] == "Отдел маркетинга <crm@example.ru>"
    assert parsed["To"] == "ivan@example.ru"
    assert parsed["X-CRM-Notification-Id"] == outgoing.reference
    assert parsed.get_content_type() == "multipart/mixed"
    plain = parsed.get_body(preferencelist=("plain",))
    html = parsed.get_body(preferencelist=("html",))
    assert plain is not None
    assert plain.get_content() == outgoing.text
    assert html is not None
    assert html.get_content() == outgoing.html
    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("method") == "REQUEST"
    assert attachment.get_content().encode() == ics


def test_an_invitations_calendar_part_declares_utf8_so_russian_titles_survive() -> None:
    from datetime import UTC, datetime
    from email import message_from_bytes
    from email.policy import default

    from crm_notify.channels import build_email
    from crm_notify.ical import calendar_entry

    settings = NotifySettings(
        environment="development",
        kafka_bootstrap="kafka:9092",
        jwt_public_key_file=None,
        mail_from="crm@example.ru",
    )
    starts = datetime(2027, 3, 1, 9, 0, tzinfo=UTC)
    entry = calendar_entry(
        method="REQUEST",
        uid="event-1@crm",
        sequence=0,
        title="Семинар «Весна»",
        starts_at=starts,
        ends_at=starts.replace(hour=11),
        location="Москва, зал 2",
        description="Программа семинара",
        url=None,
        attendee="ivan@example.ru",
        organizer="crm@example.ru",
        stamp=starts,
    )
    outgoing = Outgoing(
        to="ivan@example.ru",
        subject="Приглашение",
        text="Ждём вас.",
        html="<p>Ждём вас.</p>",
        reference="0b0e9c8a-1111-2222-3333-444455556666",
        attachments=(entry,),
    )

    parsed = message_from_bytes(build_email(settings, outgoing).data, policy=default)

    (attachment,) = list(parsed.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_param("charset") == "utf-8"
    assert attachment.get_param("method") == "REQUEST"
    assert "SUMMARY:Семинар «Весна»" in attachment.get_content()


def crlf_lines(data: bytes) -> bytes:
    """RFC 5321's lines of ``data``: every CRLF, lone LF and lone CR a CRLF, the last line
    ended (the normalization aiosmtplib applied, written as a regular expression)."""
    data = re.sub(rb"\r\n|\n|\r(?!\n)", b"\r\n", data)
    return data if data.endswith(b"\r\n") else data + b"\r\n"


WIRE_CASES = [
    b"a\nb\n",
    b"a\r\nb\r\n",
    b"a\rb\r\n\n",
    b"\r\r\n\n\r",
    b"no line end",
    b"",
    b".\n..\n",
]


@pytest.mark.parametrize("data", WIRE_CASES)
def test_the_size_announced_counts_the_message_as_it_goes_over_the_wire(data: bytes) -> None:
    assert wire_size(data) == len(crlf_lines(data))


@pytest.mark.parametrize("data", WIRE_CASES)
def test_the_message_goes_out_in_crlf_lines_dot_stuffed_and_ended_with_a_lone_dot(
    data: bytes,
) -> None:
    assert wire_message(data) == re.sub(rb"(?m)^\.", b"..", crlf_lines(data)) + b".\r\n"


def _as_email_header_writes(name: str, value: str) -> bytes:
    from email.header import Header

    charset = None if value.isascii() else "utf-8"
    folded = Header(value, charset, header_name=name).encode(linesep="\n")
    return f"{name}: {folded}\n".encode()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Subject", "Invitation: Seminar"),
        ("Subject", "Приглашение: семинар «Новые продукты» — тема длиннее одной строки письма"),
        ("Subject", "A long English subject " * 5),
        ("List-Unsubscribe", "<https://mail.example/u/" + "eyJwIjoicGVyLTEifQ" * 6 + ">"),
        ("Message-ID", "<" + "1" * 70 + "@host.example>"),
        ("X-Long", "no;place,to fold" + "x" * 80),
        ("To", "=?utf-8?b?0J7RgtC00LXQuw==?= <crm@example.ru>"),
    ],
)
def test_a_header_line_is_folded_and_encoded_as_email_header_writes_it(
    name: str, value: str
) -> None:
    from crm_notify.channels import _header

    assert _header(name, value) == _as_email_header_writes(name, value)
    assert _header(name, value) == _header(name, value)  # and again, from what was kept


@pytest.mark.parametrize(
    "value",
    [
        "anna@example.com",
        "o'brien+tag@sub.example.co",
        "Anna Petrova <anna@example.com>",
        "Анна <anna@example.com>",
        '"Petrova, Anna" <anna@example.com>',
        " anna@example.com ",
        "anna@example.com (Anna)",
    ],
)
def test_an_address_is_written_and_sent_to_as_parseaddr_reads_it(value: str) -> None:
    from email.utils import formataddr, parseaddr

    from crm_notify.channels import _addr_spec, _address

    name, address = parseaddr(value)
    assert _addr_spec(value) == address
    assert _address(value) == (formataddr((name, address), charset="utf-8") if name else address)


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000, 3001])
def test_a_part_is_base64_in_the_lines_encodebytes_makes(size: int) -> None:
    import base64

    from crm_notify.channels import _base64_lines

    body = bytes(range(256)) * (size // 256 + 1)
    assert _base64_lines(body[:size]) == base64.encodebytes(body[:size])
