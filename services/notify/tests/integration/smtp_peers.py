"""SMTP servers for the client's tests: a scripted one (each command's reply chosen by the test,
every read recorded) and a test CA's certificates for aiosmtpd's TLS."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SILENT = "silent"
"""An answer: say nothing (the client's timeout)."""
CLOSE = "close"
"""An answer: close the connection."""

TRANSACTION = ("MAIL", "RCPT", "DATA")


@dataclass
class ScriptedSmtp:
    """A loopback SMTP server answering each command as ``answers`` says: the first key that
    starts the command (case-insensitive; ``END`` is the end of the message) gives the reply,
    lines joined with CRLF for a multi-line one, or :data:`SILENT` / :data:`CLOSE`. A BDAT
    chunk (offer ``CHUNKING`` in ``extensions``) is read whole and answered as ``END``.

    With ``hold_until_data`` it answers MAIL and RCPT only once DATA has arrived: a client that
    waits for each reply before the next command (one that does not pipeline) times out."""

    extensions: tuple[str, ...] = ("PIPELINING", "SIZE 10240000", "8BITMIME")
    greeting: str = "220 scripted.test ESMTP"
    answers: dict[str, str] = field(default_factory=dict)
    hold_until_data: bool = False
    commands: list[str] = field(default_factory=list)
    """Every command line received, in order."""
    reads: list[list[str]] = field(default_factory=list)
    """The command lines each read from the socket held (what arrived together)."""
    messages: list[bytes] = field(default_factory=list)
    """Each message as it came over the wire: up to and with the final dot line after DATA,
    the chunk's octets after BDAT."""
    connections: int = 0
    port: int = 0
    _writers: list[asyncio.StreamWriter] = field(default_factory=list)

    def drop_connections(self) -> None:
        for writer in self._writers:
            writer.close()

    def _answer(self, command: str) -> str:
        for start, reply in self.answers.items():
            if command.upper().startswith(start.upper()):
                return reply
        verb = command.split(" ", 1)[0].upper()
        if verb == "EHLO":
            lines = ["scripted.test", *self.extensions]
            return "\r\n".join(
                f"250{'-' if i < len(lines) - 1 else ' '}{line}" for i, line in enumerate(lines)
            )
        return {"DATA": "354 go ahead", "QUIT": "221 bye", "END": "250 queued"}.get(verb, "250 OK")

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        writer.write(f"{self.greeting}\r\n".encode())
        pending = b""
        held: list[str] = []
        message: bytes | None = None
        chunk_left = 0  # octets of a BDAT chunk still to come
        try:
            while chunk := await reader.read(65536):
                pending += chunk
                read: list[str] = []
                while True:
                    if chunk_left:  # inside a BDAT chunk: octets, not lines
                        taken, pending = pending[:chunk_left], pending[chunk_left:]
                        message = (message or b"") + taken
                        chunk_left -= len(taken)
                        if chunk_left:
                            break
                        self.messages.append(message)
                        message = None
                        command = "END"
                    else:
                        line, found, rest = pending.partition(b"\r\n")
                        if not found:
                            break
                        pending = rest
                        if message is not None:  # inside a DATA message
                            message += line + b"\r\n"
                            if line != b".":
                                continue
                            self.messages.append(message)
                            message = None
                            command = "END"
                        else:
                            command = line.decode()
                            read.append(command)
                            self.commands.append(command)
                    verb = command.split(" ", 1)[0].upper()
                    if verb == "BDAT":
                        chunk_left = int(command.split()[1])
                        message = b""
                        if chunk_left:
                            continue  # answered as the end of the message, once it is read
                        self.messages.append(message)
                        message = None
                        command = "END"
                    reply = self._answer(command)
                    if reply == CLOSE:
                        return
                    if reply == SILENT:
                        continue
                    if self.hold_until_data and verb in ("MAIL", "RCPT"):
                        held.append(reply)
                        continue
                    writer.write("".join(f"{r}\r\n" for r in [*held, reply]).encode())
                    held = []
                    if verb == "DATA" and reply.startswith("354"):
                        message = b""
                    if verb == "QUIT":
                        return
                if read:
                    self.reads.append(read)
        finally:
            writer.close()

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[ScriptedSmtp]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            self.drop_connections()
            server.close()


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    """The test CA's certificate: what the client trusts (``smtp_ca_file``)."""
    cert_file: Path
    key_file: Path
    """The server's certificate (for 127.0.0.1 and localhost, signed by the CA) and key."""

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(folder: Path) -> Certificates:
    """A CA of a day's validity and a server certificate it signed, written to ``folder``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if ca:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
        else:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder.sign(signer, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server-key.pem")
    files.ca_file.write_bytes(certificate("notify test CA", ca_key, "notify test CA", ca_key, True))
    files.cert_file.write_bytes(certificate("localhost", key, "notify test CA", ca_key, False))
    files.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files
