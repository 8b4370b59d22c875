"""Local stand-ins for the outside world: a mail catcher and an HTTP gateway sink.

``crm-notify-devservers`` runs an SMTP server (aiosmtpd) that stores every message it accepts
into a Maildir folder, and a tiny HTTP server that records every gateway POST (SMS, pager…)
as one JSON line. The local stack points notify at both, so what was "sent" can be read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

log = logging.getLogger(__name__)

MAX_BODY = 1_000_000

Responder = Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]


def _accept(_: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 202, {"status": "accepted"}


class GatewaySink:
    """An HTTP server that records each POST (path, headers, JSON body) and answers 202.

    ``respond`` may be replaced to answer otherwise (a test's failing gateway).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        log_file: Path | None = None,
        respond: Responder = _accept,
    ) -> None:
        self.host = host
        self.port = port
        self.log_file = log_file
        self.respond = respond
        self.records: list[dict[str, Any]] = []
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=2.0)
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, answer = await self._exchange(reader)
        except (asyncio.IncompleteReadError, ValueError, ConnectionError):
            status, answer = 400, {"error": "malformed request"}
        payload = json.dumps(answer).encode()
        head = (
            f"HTTP/1.1 {status} {'OK' if status < 400 else 'Error'}\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + payload)
            await writer.drain()
        writer.close()

    async def _exchange(self, reader: asyncio.StreamReader) -> tuple[int, dict[str, Any]]:
        request_line = (await reader.readuntil(b"\r\n")).decode("latin-1").strip()
        method, path, _ = request_line.split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            line = (await reader.readuntil(b"\r\n")).decode("latin-1").strip()
            if not line:
                break
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY:
            return 413, {"error": "too large"}
        raw = await reader.readexactly(length) if length else b""
        if method != "POST":
            return 405, {"error": "POST only"}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        record = {
            "at": datetime.now(UTC).isoformat(),
            "path": path,
            "headers": headers,
            "body": body,
        }
        status, answer = self.respond(record)
        if status < 400:
            self.records.append(record)
            if self.log_file is not None:
                with self.log_file.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(record, ensure_ascii=False) + "\n")
        return status, answer


def mail_catcher(host: str, port: int, maildir: Path) -> Controller:
    """An SMTP server storing every accepted message into ``maildir`` (started by the caller)."""
    for sub in ("tmp", "new", "cur"):  # a Maildir is these three, whoever made the folder
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    return Controller(Mailbox(maildir), hostname=host, port=port, server_hostname="localhost")


async def _serve(args: argparse.Namespace) -> None:
    smtp = mail_catcher(args.host, args.smtp_port, Path(args.maildir))
    smtp.start()
    log_file = Path(args.gateway_log)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    sink = GatewaySink(args.host, args.http_port, log_file)
    await sink.start()
    print(
        f"mail catcher smtp://{args.host}:{args.smtp_port} → {args.maildir}; "
        f"gateway sink {sink.url} → {args.gateway_log}",
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sink.stop()
        smtp.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="crm-notify-devservers",
        description="Local mail catcher (SMTP → Maildir) and HTTP gateway sink (→ JSONL).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=1025)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--maildir", default=".stack/mail")
    parser.add_argument("--gateway-log", default=".stack/gateway.jsonl")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_serve(args))
