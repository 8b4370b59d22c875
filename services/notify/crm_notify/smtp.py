"""Notify's SMTP client: one connection as an asyncio protocol, the mail transaction pipelined.

What ``SmtpSender`` needs and nothing more (docs/decisions/0078-own-smtp-client.md): plain,
implicit TLS or STARTTLS; EHLO (HELO when refused); AUTH PLAIN or LOGIN; MAIL with SIZE, every
RCPT and DATA in one write when the server offers PIPELINING (RFC 2920), one at a time
otherwise, then the message with CRLF line endings, dot-stuffed; when the server offers
CHUNKING (RFC 3030) as well, MAIL, every RCPT and ``BDAT <size> LAST`` with the message itself
in one write, and one wait for their replies. Every reply is awaited for at most ``timeout_s``
(the wait starts again whenever a reply arrives).

A refusal raises :class:`SmtpRefused` and leaves the connection as it is (the caller decides
whether to go on with it); anything that leaves the session in doubt (a timeout, a lost
connection, something that is not an SMTP reply) closes the connection and raises
:class:`SmtpError` or ``TimeoutError``.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple, cast

Security = Literal["none", "starttls", "tls"]

MAX_LINE = 8192
"""Longer than any reply line a server sends (RFC 5321 4.5.3.1.5: 512 octets)."""


class Reply(NamedTuple):
    code: int
    text: str
    """The reply's text, its lines joined with a newline."""


class SmtpError(Exception):
    """The session cannot go on: the connection was lost, the server answered with something
    that is not an SMTP reply, or it lacks what the settings ask for (STARTTLS, AUTH)."""


class SmtpRefused(Exception):
    """The server refused a command with a reply (a 4xx or 5xx, or an unexpected code)."""

    def __init__(self, reply: Reply, command: str) -> None:
        super().__init__(f"{command}: {reply.code} {reply.text}")
        self.code = reply.code
        self.text = reply.text


class SmtpAddressError(ValueError):
    """An address that cannot go on a command line: a control character or an angle bracket,
    or non-ASCII to a server that does not offer SMTPUTF8."""


@dataclass(frozen=True)
class SmtpServer:
    """Where to connect and how."""

    host: str
    port: int
    local_hostname: str
    """The name this side gives in EHLO/HELO."""
    security: Security = "none"
    username: str | None = None
    password: str = ""
    timeout_s: float = 30.0
    chunking: bool = True
    """Send with BDAT when the server offers CHUNKING and PIPELINING (False: always DATA)."""


def tls_context(ca_file: Path | None = None) -> ssl.SSLContext:
    """A client's TLS context that verifies the server's certificate and name: against the
    system's CAs, or ``ca_file``'s when given (it reads the file: build it once)."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file else None)


def wire_size(data: bytes) -> int:
    """RFC 1870's SIZE of a message: its octets with every line ending a CRLF, as it goes over
    the wire (a lone LF or CR becomes a CRLF, and a last line without one gets one), before
    dot-stuffing."""
    crlf = data.count(b"\r\n")
    unended = 0 if data.endswith((b"\n", b"\r")) else 2
    return len(data) + (data.count(b"\n") - crlf) + (data.count(b"\r") - crlf) + unended


def wire_lines(data: bytes) -> bytes:
    """The message as BDAT sends it: every line ending (CRLF, a lone LF or CR) a CRLF, the
    last line ended (its length is :func:`wire_size`)."""
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    data = data.replace(b"\n", b"\r\n")
    return data if data.endswith(b"\r\n") else data + b"\r\n"


def wire_message(data: bytes) -> bytes:
    """The message as DATA sends it: :func:`wire_lines`, a line starting with a dot given a
    second one, then the lone dot."""
    data = wire_lines(data).replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data + b".\r\n"


class _ReplyReader(asyncio.Protocol):
    """Cuts what the server sends into replies (multi-line ones joined) and hands them to the
    one waiting for them; fails that wait when the connection is lost or the time runs out."""

    def __init__(self, timeout_s: float) -> None:
        self.loop = asyncio.get_running_loop()
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.error: Exception | None = None
        """Why the connection cannot be used any more; set once."""
        self.replies: deque[Reply] = deque()
        self._pending = b""
        self._lines: list[str] = []
        self._wanted = 0
        self._waiter: asyncio.Future[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._heard_at = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        if self.error is not None:
            return
        if self._pending:
            data = self._pending + data
        start = 0
        end = data.find(b"\n")
        while end >= 0:
            self._line(data[start : end - 1 if data[end - 1 : end] == b"\r" else end])
            if self.error is not None:
                return
            start = end + 1
            end = data.find(b"\n", start)
        self._pending = data[start:]
        if len(self._pending) > MAX_LINE:
            self.fail(SmtpError(f"a reply line longer than {MAX_LINE} octets"))
        elif (
            self._waiter is not None
            and not self._waiter.done()
            and len(self.replies) >= self._wanted
        ):
            self._waiter.set_result(None)

    def _line(self, line: bytes) -> None:
        if len(line) < 3 or not line[:3].isdigit() or line[3:4] not in (b"", b" ", b"-"):
            self.fail(SmtpError(f"not an SMTP reply: {line[:100]!r}"))
            return
        self._lines.append(line[4:].decode("utf-8", "replace"))
        if line[3:4] != b"-":
            self.replies.append(Reply(int(line[:3]), "\n".join(self._lines)))
            self._lines = []
            self._heard_at = self.loop.time()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.error is None:
            lost = SmtpError("the server closed the connection")
            lost.__cause__ = exc
            self.fail(lost)

    def fail(self, error: Exception) -> None:
        """The connection is done with: fail the wait, close the socket."""
        if self.error is None:
            self.error = error
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(error)
        if self.transport is not None:
            self.transport.abort()

    async def read(self, count: int) -> list[Reply]:
        """The next ``count`` replies, each within ``timeout_s`` of the one before."""
        if len(self.replies) < count:
            if self.error is not None:
                raise self.error
            self._wanted = count
            self._heard_at = self.loop.time()
            self._waiter = self.loop.create_future()
            self._timer = self.loop.call_later(self.timeout_s, self._check_time)
            try:
                await self._waiter
            finally:
                self._waiter = None
                self._timer.cancel()
        return [self.replies.popleft() for _ in range(count)]

    def _check_time(self) -> None:
        if self._waiter is None or self._waiter.done():
            return
        left = self._heard_at + self.timeout_s - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._check_time)
        else:
            self.fail(TimeoutError(f"no SMTP reply within {self.timeout_s} s"))

    def write(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        assert self.transport is not None
        self.transport.write(data)


class SmtpConnection:
    """One open, greeted (and, as the settings ask, encrypted and authenticated) session."""

    def __init__(
        self, server: SmtpServer, reader: _ReplyReader, context: ssl.SSLContext | None
    ) -> None:
        self.server = server
        self._reader = reader
        self._context = context
        self.extensions: dict[str, str] = {}
        """What EHLO's reply offered: keyword (lower case) -> its parameters."""

    @property
    def is_open(self) -> bool:
        """Connected, and nothing arrived that was not asked for (a 421 before closing)."""
        r = self._reader
        return r.error is None and r.transport is not None and not r.replies

    @property
    def pipelining(self) -> bool:
        return "pipelining" in self.extensions

    @property
    def chunking(self) -> bool:
        """BDAT in one write with the envelope: the server offers CHUNKING and PIPELINING
        (RFC 3030 4.2), and the settings allow it."""
        return self.server.chunking and self.pipelining and "chunking" in self.extensions

    async def command(self, line: str, *expected: int, name: str = "") -> Reply:
        """Send one command line and read its reply; any code but ``expected`` is refused,
        the refusal naming the command by ``name`` (by default its verb: never a secret)."""
        self._reader.write(line.encode() + b"\r\n")
        [reply] = await self._reader.read(1)
        if reply.code not in expected:
            raise SmtpRefused(reply, name or line.split(" ", 1)[0])
        return reply

    async def _greet(self) -> None:
        [greeting] = await self._reader.read(1)
        if greeting.code != 220:
            raise SmtpRefused(greeting, "greeting")  # 421 busy, 554 no service for you
        await self._hello()
        s = self.server
        if s.security == "starttls":
            if "starttls" not in self.extensions:
                raise SmtpError("the server does not offer STARTTLS")
            await self.command("STARTTLS", 220)
            await self._start_tls()
            await self._hello()
        if s.username:
            await self._login(s.username, s.password)

    async def _hello(self) -> None:
        name = self.server.local_hostname
        try:
            reply = await self.command(f"EHLO {name}", 250)
        except SmtpRefused:
            await self.command(f"HELO {name}", 250)
            self.extensions = {}
            return
        extensions = {}
        for line in reply.text.split("\n")[1:]:
            keyword, _, params = line.partition(" ")
            keyword, _, old_style = keyword.partition("=")  # AUTH=LOGIN, before RFC 4954
            extensions[keyword.lower()] = params or old_style
        self.extensions = extensions

    async def _start_tls(self) -> None:
        r = self._reader
        if r.replies or r._pending:
            # RFC 3207 5: nothing sent in clear after the 220 may be taken as the server's.
            raise SmtpError("the server sent more than its reply to STARTTLS")
        assert r.transport is not None
        assert self._context is not None
        transport = await r.loop.start_tls(
            r.transport,
            r,
            self._context,
            server_hostname=self.server.host,
            ssl_handshake_timeout=self.server.timeout_s,
        )
        r.transport = cast(asyncio.Transport, transport)

    async def _login(self, username: str, password: str) -> None:
        if "auth" not in self.extensions:
            raise SmtpError("the server offers no AUTH, and a user name is set")
        offered = self.extensions["auth"].upper().split()
        ways = [way for way in ("PLAIN", "LOGIN") if way in offered]
        if not ways:
            raise SmtpError(f"the server offers AUTH {' '.join(offered)}: not PLAIN or LOGIN")
        for way in ways:
            try:
                if way == "PLAIN":
                    secret = _b64(f"\0{username}\0{password}")
                    await self.command(f"AUTH PLAIN {secret}", 235)
                else:
                    await self.command("AUTH LOGIN", 334)
                    await self.command(_b64(username), 334, name="AUTH LOGIN user name")
                    await self.command(_b64(password), 235, name="AUTH LOGIN password")
                return
            except SmtpRefused:
                if way == ways[-1]:
                    raise

    async def send(self, sender: str, recipients: Sequence[str], data: bytes) -> dict[str, Reply]:
        """One mail transaction; the recipients the server refused, when it took some.

        Raises :class:`SmtpRefused` with the first refusal when MAIL, every RCPT, DATA or the
        message is refused."""
        chunk = wire_lines(data) if self.chunking else None
        size = len(chunk) if chunk is not None else wire_size(data)
        options = f" SIZE={size}" if "size" in self.extensions else ""
        if not (sender.isascii() and all(r.isascii() for r in recipients)):
            if "smtputf8" not in self.extensions:
                raise SmtpAddressError("a non-ASCII address, and the server has no SMTPUTF8")
            options += " SMTPUTF8"
        for address in (sender, *recipients):
            if not address.isprintable() or "<" in address or ">" in address:
                raise SmtpAddressError(f"not an address for a command line: {address!r}")
        mail = f"MAIL FROM:<{sender}>{options}\r\n"
        rcpts = [f"RCPT TO:<{r}>\r\n" for r in recipients]
        reader = self._reader
        if chunk is not None:
            # The server reads the chunk whatever it answered to MAIL and RCPT (RFC 3030 2):
            # a refused transaction leaves the session in step, nothing waits for a message.
            reader.write(f"{mail}{''.join(rcpts)}BDAT {len(chunk)} LAST\r\n".encode() + chunk)
            replies = await reader.read(len(rcpts) + 2)
            _expect(replies[0], "MAIL")
            refused = _refused(recipients, replies[1:-1])
            _expect(replies[-1], "BDAT")
            return refused
        if self.pipelining:
            reader.write(f"{mail}{''.join(rcpts)}DATA\r\n".encode())
            replies = await reader.read(len(rcpts) + 2)
            try:
                _expect(replies[0], "MAIL")
                refused = _refused(recipients, replies[1:-1])
            except SmtpRefused:
                if replies[-1].code == 354:
                    # The server waits for a message that will not come: end the session.
                    reader.fail(SmtpError("the transaction was refused, and DATA accepted"))
                raise
            _expect(replies[-1], "DATA", 354)
        else:
            reader.write(mail.encode())
            _expect((await reader.read(1))[0], "MAIL")
            answers = []
            for line in rcpts:
                reader.write(line.encode())
                answers.extend(await reader.read(1))
            refused = _refused(recipients, answers)
            reader.write(b"DATA\r\n")
            _expect((await reader.read(1))[0], "DATA", 354)
        reader.write(wire_message(data))
        _expect((await reader.read(1))[0], "end of data")
        return refused

    async def quit(self) -> None:
        """Say QUIT (within the timeout), then close, whatever the answer."""
        try:
            if self.is_open:
                await self.command("QUIT", 221)
        except (SmtpError, SmtpRefused, OSError, TimeoutError):
            pass
        finally:
            self.close()

    def close(self) -> None:
        transport = self._reader.transport
        if self._reader.error is None:
            self._reader.error = SmtpError("the connection was closed")
        if transport is not None:
            transport.close()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _expect(reply: Reply, command: str, code: int = 250) -> None:
    if reply.code != code and not (code == 250 and 200 <= reply.code < 300):
        raise SmtpRefused(reply, command)


def _refused(recipients: Sequence[str], replies: list[Reply]) -> dict[str, Reply]:
    """The refused recipients; raises the first refusal when every one was refused."""
    refused = {r: reply for r, reply in zip(recipients, replies, strict=True) if reply.code >= 300}
    if refused and len(refused) == len(recipients):
        raise SmtpRefused(next(iter(refused.values())), "RCPT")
    return refused


async def connect(server: SmtpServer, context: ssl.SSLContext | None = None) -> SmtpConnection:
    """Open a session: connect (in ``timeout_s``), read the greeting, EHLO, STARTTLS and AUTH
    as ``server`` says. ``context`` is the TLS context for "tls" and "starttls" (by default
    :func:`tls_context`, the system's CAs)."""
    loop = asyncio.get_running_loop()
    if server.security != "none" and context is None:
        context = await asyncio.to_thread(tls_context)
    async with asyncio.timeout(server.timeout_s):
        _, reader = await loop.create_connection(
            lambda: _ReplyReader(server.timeout_s),
            server.host,
            server.port,
            ssl=context if server.security == "tls" else None,
        )
    connection = SmtpConnection(server, reader, context)
    try:
        await connection._greet()
    except BaseException:
        connection.close()
        raise
    return connection
