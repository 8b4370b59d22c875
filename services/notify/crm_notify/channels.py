"""Channel adapters: e-mail over SMTP, an HTTP gateway for SMS/mobile/pager, e-mail-to-fax.

Each adapter turns a failure into :class:`DeliveryFailure`, transient (SMTP 4xx, a lost
connection, gateway 5xx or timeout) or permanent (SMTP 5xx, gateway 4xx), and nothing else.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import functools
import json
import logging
import re
import secrets
import socket
import ssl
from abc import ABC, abstractmethod
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, make_msgid, parseaddr

import httpx
from crm_contracts.values import Channel
from crm_kit.logs import CORRELATION_HEADER, header_safe
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from crm_notify import smtp
from crm_notify.domain import DeliveryFailure
from crm_notify.settings import NotifySettings
from crm_notify.smtp import (
    SmtpAddressError,
    SmtpConnection,
    SmtpError,
    SmtpRefused,
    SmtpServer,
    tls_context,
)

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 78
"""RFC 5322 2.1.1: a header line longer than this is folded."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str
    subtype: str
    params: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class InlineImage:
    """An image the HTML part shows by its Content-ID (``<img src="cid:...">``)."""

    content_id: str
    content: bytes
    subtype: str = "png"
    filename: str = "image.png"


@dataclass(frozen=True)
class Outgoing:
    """One rendered message for one address."""

    to: str
    subject: str
    text: str
    html: str
    reference: str
    """The notification id, for the receiving side's logs and de-duplication."""
    attachments: tuple[Attachment, ...] = ()
    correlation_id: str | None = None
    """The correlation id of what asked for the message (the request event's): sent as the
    ``X-Correlation-ID`` header of the e-mail and of the gateway's call."""
    headers: tuple[tuple[str, str], ...] = ()
    """Further e-mail headers (``List-Unsubscribe``…); ignored by the other channels."""
    inline: tuple[InlineImage, ...] = ()
    """Images the HTML part refers to by Content-ID (e-mail only)."""


class Sender(ABC):
    """A transport for one or more channels."""

    @abstractmethod
    async def send(self, channel: Channel, message: Outgoing) -> None:
        """Deliver or raise :class:`DeliveryFailure`."""

    async def close(self) -> None:  # noqa: B027 - optional for transports without connections
        """Release connections."""


@dataclass(frozen=True)
class Mail:
    """A message ready for SMTP: the envelope's addresses and the message's bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


_BARE_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]+@[^\s<>()\[\]\\,;:@\"]+")
"""An address with no display name, comment, quoting or route: ``parseaddr`` gives it back as
it is (what notify's recipients' addresses are), so it is not parsed."""
_FOLD_AT = re.compile(r"[;, \t]")
"""Where ``email.header`` may fold an ASCII value (its ``splitchars``)."""


def _addr_spec(value: str) -> str:
    """The address of ``value`` (``parseaddr``'s), without parsing a bare one."""
    return value if _BARE_ADDRESS.fullmatch(value) else parseaddr(value)[1]


def _address(value: str) -> str:
    """An address header value; a non-ASCII display name is encoded (RFC 2047)."""
    if _BARE_ADDRESS.fullmatch(value):
        return value
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8") if name else address


@functools.lru_cache(maxsize=8)
def _sender(mail_from: str) -> tuple[bytes, str]:
    """The From header line and the envelope's sender address of ``mail_from``, worked out once
    (the setting is the same for every message; ``parseaddr`` is not cheap)."""
    return _header("From", _address(mail_from)), parseaddr(mail_from)[1]


def _header(name: str, value: str) -> bytes:
    """One header line, folded the way ``email.header`` folds (long ASCII values at their
    spaces, others as RFC 2047 encoded words); a line break in the value is a space."""
    value = value.replace("\r", " ").replace("\n", " ")
    if value.isascii():
        if len(name) + 2 + len(value) <= MAX_HEADER_LINE:
            return f"{name}: {value}\n".encode()
        if not _FOLD_AT.search(value):
            # What email.header writes of a long value with nowhere to fold (a
            # List-Unsubscribe URL, a long Message-ID): all of it on a continuation line.
            return f"{name}: \n {value}\n".encode()
    return _encoded_header(name, value)


@functools.lru_cache(maxsize=1024)
def _encoded_header(name: str, value: str) -> bytes:
    """A header ``email.header`` folds or encodes; kept, as the subject of an invitation is
    the same for every participant of the event."""
    header = Header(value, "utf-8" if not value.isascii() else None, header_name=name)
    return f"{name}: {header.encode(linesep=chr(10))}\n".encode()


@functools.cache
def _host_name() -> str:
    """The Message-ID's domain: ``make_msgid`` would ask ``socket.getfqdn`` for every message."""
    return socket.getfqdn()


def _boundary() -> str:
    return f"=_{secrets.token_hex(16)}"


def _quoted(params: tuple[tuple[str, str], ...]) -> str:
    return "".join(f'; {name}="{value}"' for name, value in params)


def _leaf(content_type: str, body: bytes, *extra: tuple[str, str]) -> bytes:
    """A base64 part: its headers, a blank line, the body in lines of 76 characters."""
    lines = [_header("Content-Type", content_type)]
    lines.append(b"Content-Transfer-Encoding: base64\n")
    lines.extend(_header(name, value) for name, value in extra)
    return b"".join(lines) + b"\n" + _base64_lines(body)


def _base64_lines(body: bytes) -> bytes:
    """What ``base64.encodebytes`` makes (lines of 76 characters, each ending in a newline),
    encoded in one call rather than one a line: half its CPU."""
    if not body:
        return b""
    encoded = binascii.b2a_base64(body, newline=False)
    return b"\n".join([encoded[at : at + 76] for at in range(0, len(encoded), 76)]) + b"\n"


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = _boundary()
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n\n'.encode()]
    for part in parts:
        out.append(f"--{boundary}\n".encode())
        out.append(part)
    out.append(f"--{boundary}--\n".encode())
    return b"".join(out)


def build_email(settings: NotifySettings, message: Outgoing) -> Mail:
    """multipart/mixed: the plain text and HTML alternatives (inside a multipart/related with
    the images the HTML shows by Content-ID, when it has any), then the attachments.

    Written out here part by part: the ``email.mime`` objects, built and flattened for every
    message, were a large share of notify's CPU at thousands of invitations (and the
    header-registry API of ``EmailMessage`` four times that). Every body part is base64, text
    in UTF-8; a header value that is not ASCII is an RFC 2047 encoded word; the boundaries are
    random tokens, which no base64 line can contain."""
    from_line, sender = _sender(settings.mail_from)
    head = [
        from_line,
        _header("To", _address(message.to)),
        _header("Subject", message.subject),
        _header(
            "Message-ID",
            make_msgid(idstring=message.reference.replace("-", ""), domain=_host_name()),
        ),
        _header("X-CRM-Notification-Id", message.reference),
    ]
    traced = header_safe(message.correlation_id)  # an event's id may come from anywhere
    if traced:
        head.append(_header(CORRELATION_HEADER, traced))
    head.extend(_header(name, value) for name, value in message.headers)
    head.append(b"MIME-Version: 1.0\n")
    alternative = _multipart(
        "alternative",
        [
            _leaf('text/plain; charset="utf-8"', message.text.encode()),
            _leaf('text/html; charset="utf-8"', message.html.encode()),
        ],
    )
    body = alternative
    if message.inline:
        images = [
            _leaf(
                f"image/{image.subtype}",
                image.content,
                ("Content-ID", f"<{image.content_id}>"),
                ("Content-Disposition", f'inline; filename="{image.filename}"'),
            )
            for image in message.inline
        ]
        body = _multipart("related", [alternative, *images])
    attachments = [
        _leaf(
            f"{item.maintype}/{item.subtype}{_quoted(item.params)}",
            item.content,
            ("Content-Disposition", f'attachment; filename="{item.filename}"'),
        )
        for item in message.attachments
    ]
    return Mail(
        sender=sender,
        recipients=(_addr_spec(message.to),),
        data=b"".join(head) + _multipart("mixed", [body, *attachments]),
    )


class SmtpSender(Sender):
    """E-mail over SMTP with a small pool of reused connections (also the concurrency bound).

    The client is notify's own (:mod:`crm_notify.smtp`: MAIL, RCPT and DATA in one write to a
    server that offers PIPELINING). Every recipient refused raises the first refusal (4xx
    transient, 5xx permanent); some refused, the message went to the others. After any
    refusal, timeout or lost connection the connection is dropped: a fresh one is cheaper than
    doubt about the session's state."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._idle: asyncio.LifoQueue[SmtpConnection] = asyncio.LifoQueue()
        self._slots = asyncio.Semaphore(max(1, settings.smtp_pool_size))
        self._tls: ssl.SSLContext | None = None

    async def _connect(self) -> SmtpConnection:
        s = self.settings
        if s.smtp_security != "none" and self._tls is None:
            self._tls = await asyncio.to_thread(tls_context, s.smtp_ca_file)  # reads files
        server = SmtpServer(
            host=s.smtp_host,
            port=s.smtp_port,
            local_hostname=_host_name(),
            security=s.smtp_security,
            username=s.smtp_username,
            password=s.smtp_password,
            timeout_s=s.smtp_timeout_s,
            chunking=s.smtp_chunking,
        )
        return await smtp.connect(server, self._tls)

    async def _checkout(self) -> SmtpConnection:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if connection.is_open:
                return connection
            connection.close()
        return await self._connect()

    async def send(self, channel: Channel, message: Outgoing) -> None:
        await self.send_email(build_email(self.settings, message))

    async def send_email(self, mail: Mail) -> None:
        async with self._slots:
            connection: SmtpConnection | None = None
            try:
                connection = await self._checkout()
                await connection.send(mail.sender, mail.recipients, mail.data)
            except SmtpRefused as exc:
                _drop(connection)
                raise _smtp_failure(exc.code, exc.text) from exc
            except SmtpAddressError as exc:
                _drop(connection)
                raise DeliveryFailure(f"SMTP: {exc}", transient=False) from exc
            except (SmtpError, OSError, TimeoutError) as exc:
                _drop(connection)
                raise DeliveryFailure(f"SMTP: {type(exc).__name__}: {exc}", transient=True) from exc
            except BaseException:
                _drop(connection)
                raise
            self._idle.put_nowait(connection)

    async def close(self) -> None:
        while not self._idle.empty():
            await self._idle.get_nowait().quit()


def _drop(connection: SmtpConnection | None) -> None:
    if connection is not None:
        connection.close()


def _smtp_failure(code: int, text: str) -> DeliveryFailure:
    return DeliveryFailure(f"SMTP {code} {text}".strip(), transient=400 <= code < 500)


class FaxByEmailSender(Sender):
    """Fax through an e-mail-to-fax gateway: the number becomes an address by a pattern."""

    def __init__(self, settings: NotifySettings, smtp: SmtpSender) -> None:
        assert settings.fax_email_pattern is not None
        self.pattern = settings.fax_email_pattern
        self.settings = settings
        self.smtp = smtp

    async def send(self, channel: Channel, message: Outgoing) -> None:
        address = self.pattern.format(number=message.to.lstrip("+"))
        fax = Outgoing(
            to=address,
            subject=message.subject,
            text=message.text,
            html=message.html,
            reference=message.reference,
            correlation_id=message.correlation_id,
        )
        await self.smtp.send_email(build_email(self.settings, fax))


_body_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


class HttpGatewaySender(Sender):
    """A generic HTTP gateway: POST a body rendered from a template, with an auth header."""

    def __init__(self, settings: NotifySettings, client: httpx.AsyncClient | None = None) -> None:
        assert settings.gateway_url is not None
        self.url = settings.gateway_url
        self.settings = settings
        self.body = _body_env.from_string(settings.gateway_body_template)
        self.client = client or httpx.AsyncClient(timeout=settings.gateway_timeout_s)
        self._slots = asyncio.Semaphore(max(1, settings.gateway_concurrency))

    async def send(self, channel: Channel, message: Outgoing) -> None:
        body = self.body.render(
            to=message.to,
            channel=channel.value,
            text=message.text,
            subject=message.subject,
            reference=message.reference,
            correlation_id=header_safe(message.correlation_id) or "",
        )
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.reference}
        traced = header_safe(message.correlation_id)  # an event's id may come from anywhere
        if traced:
            headers[CORRELATION_HEADER] = traced
        s = self.settings
        if s.gateway_token:
            headers[s.gateway_auth_header] = f"{s.gateway_auth_scheme} {s.gateway_token}".strip()
        async with self._slots:
            try:
                response = await self.client.post(self.url, content=body.encode(), headers=headers)
            except httpx.HTTPError as exc:
                raise DeliveryFailure(
                    f"gateway: {type(exc).__name__}: {exc}", transient=True
                ) from exc
        if response.status_code >= 400:
            detail = _short(response.text)
            raise DeliveryFailure(
                f"gateway {response.status_code} {detail}".strip(),
                transient=response.status_code >= 500 or response.status_code in (408, 429),
            )

    async def close(self) -> None:
        await self.client.aclose()


def _short(text: str, limit: int = 300) -> str:
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), ensure_ascii=False)
    return text[:limit]


def build_senders(settings: NotifySettings) -> dict[Channel, Sender]:
    """The transport of each configured channel."""
    senders: dict[Channel, Sender] = {}
    smtp = SmtpSender(settings) if settings.smtp_host else None
    gateway = HttpGatewaySender(settings) if settings.gateway_url else None
    if smtp is not None:
        senders[Channel.EMAIL] = smtp
    if gateway is not None:
        senders[Channel.MOBILE] = gateway
        senders[Channel.PAGER] = gateway
    if smtp is not None and settings.fax_email_pattern:
        senders[Channel.FAX] = FaxByEmailSender(settings, smtp)
    elif gateway is not None:
        senders[Channel.FAX] = gateway
    return senders
