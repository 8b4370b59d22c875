"""What one e-mail costs notify's process in CPU at the SMTP client: aiosmtplib, notify's own
client with and without pipelining (RFC 2920), and bare streams as the floor.

    uv run python bench/smtp_client_cost.py [--count 3000] [--connections 4] [--scale 1]

The SMTP servers (aiosmtpd with ``crm_kit.testing.CountingSmtp``, as in ``bench/fanout.py``) run
in processes of their own, so this process's CPU (``time.process_time``: user + system, the
kernel's loopback work for each write included) is the client's alone. One message as notify
writes an invitation (``channels.build_email``: text, HTML, an inline QR image, a calendar
attachment), sent ``--count`` times over ``--connections`` connections at once, on uvloop (as
the services run), seven ways:

  - ``sendmail``: ``aiosmtplib.SMTP.sendmail``, as notify sent until 2026-12-06 (a round trip
    for each of MAIL, RCPT, DATA and the message; a pass over the message to count its SIZE);
  - ``SmtpSender``: notify's ``SmtpSender.send_email``, over its own client
    (``crm_notify.smtp``, since 2026-12-07): MAIL, RCPT and DATA in one write, as the server
    offers PIPELINING (RFC 2920), then the message;
  - ``SmtpSender, no PIPELINING``: the same to a second server that does not offer it (a
    write and a reply for each command);
  - ``raw, 4 writes``: the same four round trips over bare asyncio streams, the floor of any
    client that does not pipeline;
  - ``raw, pipelined``: MAIL, RCPT and DATA in one write, their three replies read together,
    then the message (two round trips);
  - ``SmtpSender, lean, DATA`` and ``…, BDAT``: ``SmtpSender`` to the benches' lean server
    (``crm_kit.smtp_sink``, offering PIPELINING and CHUNKING, RFC 3030), with
    ``smtp_chunking`` off (as to aiosmtpd, two round trips) and on (MAIL, RCPT, ``BDAT <size>
    LAST`` and the message in one write: one round trip, no dot-stuffing).

aiosmtpd reads commands in order but does not offer PIPELINING; the first server here says it
does (``crm_kit.testing.OffersPipelining``), the second does not.

Figures only; never part of pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable

import aiosmtplib
import uvloop
from crm_notify.channels import Attachment, InlineImage, Mail, Outgoing, SmtpSender, build_email
from crm_notify.settings import NotifySettings

SERVER = textwrap.dedent(
    """
    import sys
    from crm_kit.testing import CountingSmtp, OffersPipelining, smtp_server

    class Pipelining(OffersPipelining, CountingSmtp):
        pass

    if sys.argv[1] == "sink":
        from crm_kit.smtp_sink import sink_server

        server = sink_server(CountingSmtp("@bench.invalid").count_message)
    else:
        offers = sys.argv[1] == "pipelining"
        server = smtp_server((Pipelining if offers else CountingSmtp)("@bench.invalid"))
    with server as port:
        print(port, flush=True)
        sys.stdin.read()
    """
)


def typical_mail(settings: NotifySettings, scale: int) -> Mail:
    """An invitation-sized message at ``scale`` 1 (3.5-4.5 kB: what notify's invitation
    template makes for a person, with its QR code and calendar entry); ``scale`` repeats its
    text, HTML and image that many times."""
    message = Outgoing(
        to="Guest Name <guest@bench.invalid>",
        subject="Приглашение: встреча клиентов",
        text="Здравствуйте!\n" + "Текст приглашения. " * 25 * scale,
        html="<html><body>" + "<p>Текст приглашения.</p>" * 40 * scale + "</body></html>",
        reference="0b9e6c7e-6f0e-4c55-9d65-0d1f0f1a2b3c",
        correlation_id="c0ffee00c0ffee00c0ffee00c0ffee00",
        headers=(("List-Unsubscribe", "<https://crm.invalid/u/abcdef>"),),
        inline=(InlineImage("qr@crm", os.urandom(300 * scale)),),
        attachments=(Attachment("invite.ics", b"BEGIN:VCALENDAR\n" * 30, "text", "calendar"),),
    )
    return build_email(settings, message)


def wire_data(data: bytes) -> bytes:
    """The DATA payload as aiosmtplib writes it: CRLF line ends, dot-stuffed, terminated."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", data)
    return re.sub(rb"(?m)^\.", b"..", data) + b".\r\n"


async def reply(reader: asyncio.StreamReader) -> bytes:
    while True:
        line = await reader.readline()
        if line[3:4] != b"-":
            if line[:1] not in (b"2", b"3"):
                raise RuntimeError(line)
            return line


async def raw_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reply(reader)
    writer.write(b"EHLO bench\r\n")
    await reply(reader)
    return reader, writer


async def raw_sender(port: int, mail: Mail, pipelined: bool) -> Callable[[], Awaitable[None]]:
    reader, writer = await raw_connection(port)
    mail_from = f"MAIL FROM:<{mail.sender}>\r\n".encode()
    rcpt = f"RCPT TO:<{mail.recipients[0]}>\r\n".encode()

    async def send() -> None:
        data = wire_data(mail.data)
        if pipelined:
            writer.write(mail_from + rcpt + b"DATA\r\n")
            for _ in range(3):
                await reply(reader)
        else:
            for command in (mail_from, rcpt, b"DATA\r\n"):
                writer.write(command)
                await reply(reader)
        writer.write(data)
        await reply(reader)

    return send


async def timed(count: int, senders: list[Callable[[], Awaitable[None]]]) -> tuple[float, float]:
    each = count // len(senders)

    async def loop(send: Callable[[], Awaitable[None]]) -> None:
        for _ in range(each):
            await send()

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(loop(s) for s in senders))
    n = each * len(senders)
    return (time.process_time() - cpu) * 1000 / n, n / (time.perf_counter() - wall)


async def measure(args: argparse.Namespace, port: int, plain_port: int, sink_port: int) -> None:
    settings = NotifySettings(
        smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=args.connections
    )
    mail = typical_mail(settings, args.scale)
    print(f"{args.count} messages of {len(mail.data)} B over {args.connections} connections; "
          f"load {os.getloadavg()[0]:.2f}", flush=True)  # fmt: skip
    smtp = SmtpSender(settings)
    one_by_one = SmtpSender(settings.model_copy(update={"smtp_port": plain_port}))
    sink_data = SmtpSender(
        settings.model_copy(update={"smtp_port": sink_port, "smtp_chunking": False})
    )
    sink_bdat = SmtpSender(settings.model_copy(update={"smtp_port": sink_port}))

    async def via_smtp_sender() -> None:
        await smtp.send_email(mail)

    async def via_smtp_sender_one_by_one() -> None:
        await one_by_one.send_email(mail)

    async def via_sink_data() -> None:
        await sink_data.send_email(mail)

    async def via_sink_bdat() -> None:
        await sink_bdat.send_email(mail)

    ways: dict[str, Callable[[], Awaitable[list[Callable[[], Awaitable[None]]]]]] = {
        "sendmail": lambda: _sendmail(port, mail, args.connections),
        "SmtpSender": lambda: _same(via_smtp_sender, args.connections),
        "SmtpSender, no PIPELINING": lambda: _same(via_smtp_sender_one_by_one, args.connections),
        "raw, 4 writes": lambda: _each(port, mail, False, args.connections),
        "raw, pipelined": lambda: _each(port, mail, True, args.connections),
        "SmtpSender, lean, DATA": lambda: _same(via_sink_data, args.connections),
        "SmtpSender, lean, BDAT": lambda: _same(via_sink_bdat, args.connections),
    }
    for _round in range(args.rounds):
        for name, make in ways.items():
            senders = await make()
            await timed(args.connections * 20, senders)  # connections made, warm
            ms, rate = await timed(args.count, senders)
            print(f"  {name:<26} {ms:6.3f} ms CPU a message  ({rate:7.0f} /s)", flush=True)
        print(f"load {os.getloadavg()[0]:.2f}", flush=True)
    for sender in (smtp, one_by_one, sink_data, sink_bdat):
        await sender.close()


def main(args: argparse.Namespace) -> None:
    servers = [
        subprocess.Popen(
            [sys.executable, "-c", SERVER, offers],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for offers in ("pipelining", "plain", "sink")
    ]
    try:
        ports = []
        for server in servers:
            assert server.stdout is not None
            ports.append(int(server.stdout.readline()))
        uvloop.run(measure(args, *ports))
    finally:
        for server in servers:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=10)


async def _same(send: Callable[[], Awaitable[None]], n: int) -> list[Callable[[], Awaitable[None]]]:
    return [send] * n


async def _sendmail(port: int, mail: Mail, n: int) -> list[Callable[[], Awaitable[None]]]:
    senders = []
    for _ in range(n):
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()

        async def send(client: aiosmtplib.SMTP = client) -> None:
            await client.sendmail(mail.sender, list(mail.recipients), mail.data)

        senders.append(send)
    return senders


async def _each(
    port: int, mail: Mail, pipelined: bool, n: int
) -> list[Callable[[], Awaitable[None]]]:
    return [await raw_sender(port, mail, pipelined) for _ in range(n)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--scale", type=int, default=1, help="a message that many times larger")
    main(parser.parse_args())
