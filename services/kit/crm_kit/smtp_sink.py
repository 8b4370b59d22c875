"""A lean SMTP server for the benches: it takes every message and tells a counter who got one.

The fan-out bench measures invitations from the call to the SMTP server, and its SMTP server
runs on the same two cores as the services it measures. aiosmtpd (the tests' SMTP server) is
a complete server, and costs about half a millisecond of CPU a message: more than campaigns
(docs/performance.md, "The bench's SMTP server, and BDAT").
A mail server in production runs on a machine of its own; this one does the least an SMTP
server must to take a message (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT, DATA with its
dot-terminated end, RSET, NOOP, QUIT; PIPELINING as RFC 2920 asks; CHUNKING's BDAT, RFC 3030,
as Postfix, Exim and Exchange offer it) and keeps nothing of the message but its recipients,
so that a bench's figures are the services' and not the server's.

It checks the order of commands (503 for RCPT before MAIL, DATA or BDAT before RCPT, a second
MAIL: a refused BDAT's chunk is read and dropped, as RFC 3030 asks),
refuses what it does not know (502) and lines longer than RFC 5321 allows (500, and the
connection is closed), but it is not a mail server: no TLS, no AUTH, no address syntax beyond
the angle brackets. Tests of notify's own SMTP client use aiosmtpd.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

MAX_LINE = 4096
"""Longest command line taken (RFC 5321 asks for 512 octets at least, SMTPUTF8 more)."""
_END = b"\r\n.\r\n"

Counter = Callable[[Sequence[str]], None]
"""Told the recipients of each message taken (``CountingSmtp.count``)."""


def _address(argument: str, prefix: str) -> str | None:
    """The address of ``FROM:<a> …`` / ``TO:<a> …``; None when the argument is not that."""
    if not argument.upper().startswith(prefix):
        return None
    rest = argument[len(prefix) :].strip()
    if not rest.startswith("<") or ">" not in rest:
        return None
    return rest[1 : rest.index(">")]


class SinkSession(asyncio.Protocol):
    """One client's SMTP session."""

    def __init__(self, count: Counter, *, hostname: str, pipelining: bool, chunking: bool) -> None:
        self.count = count
        self.hostname = hostname
        self.pipelining = pipelining
        self.chunking = chunking
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.sender: str | None = None
        self.recipients: list[str] = []
        self.in_data = False
        self.tail = b""
        self.chunk_left = 0
        """Octets of the current BDAT chunk still to read."""
        self.chunk_last = False
        """Whether that chunk ends the message (BDAT's LAST)."""
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(f"220 {self.hostname} ESMTP bench sink\r\n".encode())

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        replies: list[str] = []
        rest: bytes | None = data
        while rest is not None and not self.closing:
            if self.chunk_left:
                rest = self._chunk(rest, replies)
                continue
            if self.in_data:
                rest = self._message(rest, replies)
                continue
            self.buffer += rest
            rest = None
            while not self.in_data and not self.chunk_left and not self.closing:
                end = self.buffer.find(b"\n")
                if end < 0:
                    if len(self.buffer) > MAX_LINE:
                        replies.append("500 5.5.2 Line too long")
                        self.closing = True
                    break
                line = self.buffer[:end].rstrip(b"\r").decode("utf-8", "replace")
                del self.buffer[: end + 1]
                reply = self._command(line)
                if reply is not None:  # None: BDAT, answered once its chunk is read
                    replies.append(reply)
            if (self.in_data or self.chunk_left) and self.buffer:
                rest = bytes(self.buffer)
                self.buffer.clear()
        if replies and self.transport is not None:
            self.transport.write(("\r\n".join(replies) + "\r\n").encode())
            if self.closing:
                self.transport.close()

    def _message(self, chunk: bytes, replies: list[str]) -> bytes | None:
        """Read message data up to its ending line; what follows it, or None when more is due.
        Only the last four octets are kept between chunks (an ending split across them)."""
        joined = self.tail + chunk
        end = joined.find(_END)
        if end < 0:
            self.tail = joined[-4:]
            return None
        self.count(self.recipients)
        self._reset()
        replies.append("250 2.0.0 OK")
        return joined[end + len(_END) :]

    def _chunk(self, data: bytes, replies: list[str]) -> bytes | None:
        """Read (and drop) the current BDAT chunk's octets; what follows it, or None."""
        if len(data) < self.chunk_left:
            self.chunk_left -= len(data)
            return None
        rest = data[self.chunk_left :]
        self.chunk_left = 0
        replies.append(self._chunk_read())
        return rest

    def _bdat(self, argument: str) -> str | None:
        """BDAT <size> [LAST]: its reply now when it is refused for its syntax (then no chunk
        is read) or its chunk is empty; else None, and the reply once the chunk is read."""
        size, _, last = argument.partition(" ")
        if not size.isdigit() or last.upper() not in ("", "LAST"):
            return "501 5.5.4 Syntax: BDAT <size> [LAST]"
        self.chunk_left, self.chunk_last = int(size), bool(last)
        return None if self.chunk_left else self._chunk_read()

    def _chunk_read(self) -> str:
        if not self.recipients:
            return "503 5.5.1 Error: need RCPT command"
        if self.chunk_last:
            self.count(self.recipients)
            self._reset()
            return "250 2.0.0 OK"
        return "250 2.0.0 chunk taken"

    def _reset(self) -> None:
        self.sender, self.recipients, self.in_data, self.tail = None, [], False, b""

    def _command(self, line: str) -> str | None:
        verb, _, argument = line.partition(" ")
        verb = verb.upper()
        if verb == "EHLO":
            self._reset()
            offered = ["SIZE 33554432", "8BITMIME", "SMTPUTF8"]
            if self.pipelining:
                offered.append("PIPELINING")
            if self.chunking:
                offered.append("CHUNKING")
            return "\r\n".join(f"250-{x}" for x in [self.hostname, *offered]) + "\r\n250 HELP"
        if verb == "HELO":
            self._reset()
            return f"250 {self.hostname}"
        if verb == "MAIL":
            if self.sender is not None:
                return "503 5.5.1 Error: nested MAIL command"
            sender = _address(argument, "FROM:")
            if sender is None:
                return "501 5.5.4 Syntax: MAIL FROM:<address>"
            self.sender = sender
            return "250 2.1.0 OK"
        if verb == "RCPT":
            if self.sender is None:
                return "503 5.5.1 Error: need MAIL command"
            recipient = _address(argument, "TO:")
            if not recipient:
                return "501 5.5.4 Syntax: RCPT TO:<address>"
            self.recipients.append(recipient)
            return "250 2.1.5 OK"
        if verb == "DATA":
            if not self.recipients:
                return "503 5.5.1 Error: need RCPT command"
            self.in_data, self.tail = True, b"\r\n"  # the DATA line's own ending
            return "354 End data with <CR><LF>.<CR><LF>"
        if verb == "BDAT" and self.chunking:
            return self._bdat(argument)
        if verb == "RSET":
            self._reset()
            return "250 2.0.0 OK"
        if verb == "NOOP":
            return "250 2.0.0 OK"
        if verb == "QUIT":
            self.closing = True
            return "221 2.0.0 Bye"
        return f"502 5.5.1 Error: command {verb or '(empty)'!r} not implemented"


@contextlib.contextmanager
def sink_server(
    count: Counter, *, pipelining: bool = True, chunking: bool = True, hostname: str = "localhost"
) -> Iterator[int]:
    """Serve the sink on a free loopback port, in a thread and event loop of its own, for the
    block; yields the port. ``count`` is told each message's recipients (from that thread)."""
    loop = asyncio.new_event_loop()
    started = threading.Event()
    servers: list[asyncio.Server] = []
    sessions: list[SinkSession] = []

    def session() -> SinkSession:
        sessions.append(
            SinkSession(count, hostname=hostname, pipelining=pipelining, chunking=chunking)
        )
        return sessions[-1]

    async def serve() -> None:
        server = await loop.create_server(
            session,
            host="127.0.0.1",
            port=0,
        )
        servers.append(server)
        started.set()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(serve())
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())

    thread = threading.Thread(target=run, name="smtp-sink", daemon=True)
    thread.start()
    if not started.wait(10):
        raise RuntimeError("the SMTP sink did not start in 10 s")
    try:
        yield servers[0].sockets[0].getsockname()[1]
    finally:

        def stop() -> None:
            # Clients may keep their sessions open (notify's pool does): close them here.
            servers[0].close()
            for each in sessions:
                if each.transport is not None:
                    each.transport.close()
            loop.stop()

        loop.call_soon_threadsafe(stop)
        thread.join(10)
        loop.close()
