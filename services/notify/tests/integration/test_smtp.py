"""Notify's SMTP client against real servers on loopback: a scripted one for each refusal,
timeout and lost connection, aiosmtpd for TLS, STARTTLS and AUTH."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from crm_kit.smtp_sink import sink_server
from crm_kit.testing import CountingSmtp, MailSink, OffersPipelining, eventually, smtp_server
from crm_notify.channels import Mail, SmtpSender
from crm_notify.domain import DeliveryFailure
from crm_notify.settings import NotifySettings
from crm_notify.smtp import SmtpServer, connect

from .smtp_peers import CLOSE, SILENT, Certificates, ScriptedSmtp, make_certificates

MAIL = Mail("crm@example.test", ("anna@example.test",), b"Subject: Hi\n\nHello\n")


def sender(port: int, **settings: Any) -> SmtpSender:
    return SmtpSender(
        NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=1, **settings)
    )


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("smtp-tls"))


async def test_a_server_offering_pipelining_gets_mail_rcpt_and_data_in_one_write() -> None:
    server = ScriptedSmtp(hold_until_data=True)
    async with server.serving():
        smtp = sender(server.port, smtp_timeout_s=2)
        await smtp.send_email(MAIL)
        await smtp.send_email(MAIL)
        await smtp.close()
    size = len(b"Subject: Hi\r\n\r\nHello\r\n")
    transaction = [
        f"MAIL FROM:<crm@example.test> SIZE={size}",
        "RCPT TO:<anna@example.test>",
        "DATA",
    ]
    assert [read for read in server.reads if read and read[0].startswith("MAIL")] == [
        transaction,
        transaction,
    ]
    assert server.connections == 1
    assert server.messages == [b"Subject: Hi\r\n\r\nHello\r\n.\r\n"] * 2
    assert server.commands[-1] == "QUIT"


async def test_a_server_without_pipelining_gets_one_command_at_a_time() -> None:
    server = ScriptedSmtp(extensions=("SIZE",))
    async with server.serving():
        smtp = sender(server.port)
        await smtp.send_email(Mail("crm@example.test", ("a@x.test", "b@x.test"), b"Hi\n"))
        await smtp.close()
    transaction = [read for read in server.reads if read and read[0][:4] in ("MAIL", "RCPT")]
    assert transaction == [
        ["MAIL FROM:<crm@example.test> SIZE=4"],
        ["RCPT TO:<a@x.test>"],
        ["RCPT TO:<b@x.test>"],
    ]
    assert server.messages == [b"Hi\r\n.\r\n"]


async def test_a_multi_line_refusal_is_the_failures_whole_reason() -> None:
    server = ScriptedSmtp(
        answers={
            "MAIL": "250-sender fine\r\n250-really\r\n250 OK",
            "RCPT": "550-5.1.1 no such user\r\n550 5.1.1 here",
        }
    )
    async with server.serving():
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port).send_email(MAIL)
    assert caught.value.reason == "SMTP 550 5.1.1 no such user\n5.1.1 here"
    assert caught.value.transient is False


CHUNKING = ("PIPELINING", "CHUNKING", "SIZE 10240000", "8BITMIME")
WAYS = {"pipelined": ("PIPELINING",), "one-by-one": (), "chunked": CHUNKING}
"""The extensions a server offers, by the way the client then sends: MAIL, RCPT and DATA in
one write; one command at a time; MAIL, RCPT, BDAT and the message in one write."""
REFUSALS = [
    ("MAIL", "451 4.3.0 sender check failed, try later", True),
    ("MAIL", "553 5.1.8 sender domain refused", False),
    ("RCPT", "450 4.2.1 mailbox busy", True),
    ("RCPT", "550 5.1.1 no such user", False),
    ("DATA", "554 5.5.1 no valid recipients", False),
    ("END", "452 4.3.1 insufficient storage", True),
    ("END", "554 5.7.1 message refused as spam", False),
]


@pytest.mark.parametrize(
    ("way", "where", "reply", "transient"),
    [
        pytest.param(way, *refusal, id=f"{way}-{refusal[0]}-{refusal[1][:3]}")
        for way in WAYS
        for refusal in REFUSALS
        if not (way == "chunked" and refusal[0] == "DATA")  # no DATA with BDAT
    ],
)
async def test_a_refusal_anywhere_in_the_transaction_fails_the_message_and_drops_the_connection(
    way: str, where: str, reply: str, transient: bool
) -> None:
    server = ScriptedSmtp(extensions=WAYS[way], answers={where: reply})
    async with server.serving():
        smtp = sender(server.port)
        with pytest.raises(DeliveryFailure) as caught:
            await smtp.send_email(MAIL)
        server.answers.clear()
        await smtp.send_email(MAIL)  # on a new connection
    assert caught.value.reason == f"SMTP {reply}"
    assert caught.value.transient is transient
    assert server.connections == 2
    if way == "chunked":
        # The chunk goes with its envelope, so the server read it both times (and drops a
        # refused transaction's, as RFC 3030 asks).
        assert len(server.messages) == 2
        assert "DATA" not in server.commands
    else:
        assert len(server.messages) == 1 + (where == "END")


async def test_a_server_offering_chunking_gets_mail_rcpt_bdat_and_the_message_in_one_write() -> (
    None
):
    # MAIL's and RCPT's replies are held until the message is read: a client waiting for them
    # before sending the rest would time out.
    server = ScriptedSmtp(extensions=CHUNKING, hold_until_data=True)
    data = b"Subject: dots\n\n.starts with a dot\r\n..two\rlone CR\n.\nend"
    async with server.serving():
        smtp = sender(server.port, smtp_timeout_s=2)
        await smtp.send_email(Mail("crm@x.test", ("a@x.test", "b@x.test"), data))
        await smtp.send_email(MAIL)
        await smtp.close()
    # Line endings made CRLF, the last line ended; no dot-stuffing, no ending line.
    wire = b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\nlone CR\r\n.\r\nend\r\n"
    hello = b"Subject: Hi\r\n\r\nHello\r\n"
    assert server.messages == [wire, hello]
    assert [read for read in server.reads if read and read[0].startswith("MAIL")] == [
        [
            f"MAIL FROM:<crm@x.test> SIZE={len(wire)}",
            "RCPT TO:<a@x.test>",
            "RCPT TO:<b@x.test>",
            f"BDAT {len(wire)} LAST",
        ],
        [
            f"MAIL FROM:<crm@example.test> SIZE={len(hello)}",
            "RCPT TO:<anna@example.test>",
            f"BDAT {len(hello)} LAST",
        ],
    ]
    assert "DATA" not in server.commands
    assert server.connections == 1


@pytest.mark.parametrize(
    ("extensions", "settings"),
    [(CHUNKING, {"smtp_chunking": False}), (("CHUNKING", "SIZE 10240000"), {})],
    ids=["turned-off", "without-pipelining"],
)
async def test_data_is_used_when_chunking_is_turned_off_or_cannot_be_pipelined(
    extensions: tuple[str, ...], settings: dict[str, Any]
) -> None:
    server = ScriptedSmtp(extensions=extensions)
    async with server.serving():
        smtp = sender(server.port, **settings)
        await smtp.send_email(MAIL)
        await smtp.close()
    assert "DATA" in server.commands
    assert not [c for c in server.commands if c.startswith("BDAT")]
    assert server.messages == [b"Subject: Hi\r\n\r\nHello\r\n.\r\n"]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
async def test_the_message_goes_to_the_recipients_taken_when_others_are_refused(
    pipelining: bool,
) -> None:
    server = ScriptedSmtp(
        extensions=("PIPELINING",) if pipelining else (),
        answers={"RCPT TO:<gone@x.test>": "550 5.1.1 no such user"},
    )
    async with server.serving():
        connection = await connect(SmtpServer("127.0.0.1", server.port, "client.test"))
        refused = await connection.send("crm@x.test", ["gone@x.test", "here@x.test"], b"Hi\n")
        await connection.send("crm@x.test", ["here@x.test"], b"Again\n")
        await connection.quit()
    assert {address: reply.code for address, reply in refused.items()} == {"gone@x.test": 550}
    assert server.messages == [b"Hi\r\n.\r\n", b"Again\r\n.\r\n"]
    assert server.connections == 1


async def test_every_recipient_refused_is_the_first_refusal_and_no_message_is_sent() -> None:
    server = ScriptedSmtp(
        extensions=(),
        answers={"RCPT TO:<a@x.test>": "450 4.2.1 busy", "RCPT TO:<b@x.test>": "550 5.1.1 gone"},
    )
    async with server.serving():
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port).send_email(Mail("crm@x.test", ("a@x.test", "b@x.test"), b""))
    assert (caught.value.reason, caught.value.transient) == ("SMTP 450 4.2.1 busy", True)
    assert "DATA" not in server.commands


@pytest.mark.parametrize("where", ["MAIL", "RCPT", "END"])
async def test_a_server_that_stops_answering_is_a_transient_failure_after_the_timeout(
    where: str,
) -> None:
    server = ScriptedSmtp(answers={where: SILENT})
    async with server.serving():
        smtp = sender(server.port, smtp_timeout_s=0.3)
        started = time.monotonic()
        with pytest.raises(DeliveryFailure) as caught:
            await smtp.send_email(MAIL)
        waited = time.monotonic() - started
        server.answers.clear()
        await smtp.send_email(MAIL)
    assert caught.value.transient is True
    assert "TimeoutError" in caught.value.reason
    assert 0.3 <= waited < 2
    assert server.connections == 2


async def test_a_server_that_never_greets_is_a_transient_failure_after_the_timeout() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    try:
        smtp = sender(server.sockets[0].getsockname()[1], smtp_timeout_s=0.3)
        with pytest.raises(DeliveryFailure) as caught:
            await smtp.send_email(MAIL)
    finally:
        server.close()
    assert caught.value.transient is True
    assert "TimeoutError" in caught.value.reason


@pytest.mark.parametrize("where", ["MAIL", "DATA", "END"])
async def test_a_server_closing_mid_transaction_is_a_transient_failure(where: str) -> None:
    server = ScriptedSmtp(answers={where: CLOSE})
    async with server.serving():
        smtp = sender(server.port)
        with pytest.raises(DeliveryFailure) as caught:
            await smtp.send_email(MAIL)
        server.answers.clear()
        await smtp.send_email(MAIL)
    assert caught.value.transient is True
    assert "closed the connection" in caught.value.reason
    assert len(server.messages) == 1 + (where == "END")


async def test_a_pooled_connection_the_server_closed_is_replaced() -> None:
    server = ScriptedSmtp()
    async with server.serving():
        smtp = sender(server.port)
        await smtp.send_email(MAIL)
        [idle] = list(smtp._idle._queue)
        server.drop_connections()
        await eventually(lambda: not idle.is_open, within=5, what="the close seen")
        await smtp.send_email(MAIL)
    assert server.connections == 2
    assert len(server.messages) == 2


@pytest.mark.parametrize(
    ("greeting", "transient"),
    [("421 4.3.2 too busy, come back later", True), ("554 5.7.1 no service for you", False)],
)
async def test_a_server_refusing_to_greet_is_that_refusal(greeting: str, transient: bool) -> None:
    server = ScriptedSmtp(greeting=greeting)
    async with server.serving():
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port).send_email(MAIL)
    assert (caught.value.reason, caught.value.transient) == (f"SMTP {greeting}", transient)


async def test_a_server_refusing_ehlo_is_greeted_with_helo_and_gets_plain_smtp() -> None:
    server = ScriptedSmtp(answers={"EHLO": "502 5.5.2 what is EHLO"})
    async with server.serving():
        smtp = sender(server.port)
        await smtp.send_email(MAIL)
    assert [c.split(" ")[0] for c in server.commands[:3]] == ["EHLO", "HELO", "MAIL"]
    assert server.commands[2] == "MAIL FROM:<crm@example.test>"  # no SIZE, no pipelining


async def test_a_reply_that_is_not_smtp_is_a_transient_failure() -> None:
    server = ScriptedSmtp(answers={"MAIL": "HTTP/1.1 400 Bad Request"})
    async with server.serving():
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port).send_email(MAIL)
    assert caught.value.transient is True
    assert "not an SMTP reply" in caught.value.reason


async def test_an_address_that_would_add_a_command_is_refused_before_sending() -> None:
    server = ScriptedSmtp()
    async with server.serving():
        forged = Mail("crm@x.test", ("a@x.test>\r\nRCPT TO:<b@x.test",), b"Hi\n")
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port).send_email(forged)
    assert caught.value.transient is False
    assert not [c for c in server.commands if c.startswith(("MAIL", "RCPT"))]


# aiosmtpd: the real server notify's tests and local stack use.


class Pipelining(OffersPipelining):
    """An aiosmtpd handler offering PIPELINING that keeps every message as it arrived."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.raw.append(bytes(envelope.original_content))
        return "250 OK"


async def test_aiosmtpd_gets_a_pipelined_message_as_written_with_its_line_endings_made_crlf() -> (
    None
):
    handler = Pipelining()
    data = b"Subject: dots\n\n.starts with a dot\r\n..two\rlone CR\n.\nend"
    with smtp_server(handler) as port:
        smtp = sender(port)
        await smtp.send_email(Mail("crm@x.test", ("a@x.test",), data))
        await smtp.close()
    assert handler.raw == [
        b"Subject: dots\r\n\r\n.starts with a dot\r\n..two\r\nlone CR\r\n.\r\nend\r\n"
    ]


@pytest.mark.parametrize("chunking", [True, False], ids=["bdat", "data"])
async def test_the_benches_lean_server_takes_pipelined_messages_from_a_pool(
    chunking: bool,
) -> None:
    """bench/fanout.py measures notify against crm_kit.smtp_sink: notify's client and it agree."""
    handler = CountingSmtp("@x.test", expected=40)
    data = b"Subject: dots\n\n.\n..two\r\n.\r\nend"
    with sink_server(handler.count_message, chunking=chunking) as port:
        smtp = SmtpSender(NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_pool_size=3))
        mails = [Mail("crm@x.test", (f"p{i}@x.test",), data) for i in range(40)]
        await asyncio.gather(*(smtp.send_email(mail) for mail in mails))
        await smtp.close()
    assert handler.all_at is not None
    assert handler.snapshot() == Counter({f"p{i}@x.test": 1 for i in range(40)})


class Accounts:
    """aiosmtpd's authenticator: one user and password."""

    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()
        self.mechanisms: list[str] = []

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        self.mechanisms.append(mechanism)
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok, handled=False)


NO_TLS_WARNING = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@NO_TLS_WARNING
@pytest.mark.parametrize(("withheld", "used"), [((), "PLAIN"), (("PLAIN",), "LOGIN")])
async def test_the_sender_authenticates_with_plain_or_login_when_only_that_is_offered(
    withheld: tuple[str, ...], used: str
) -> None:
    sink, accounts = MailSink(), Accounts("crm", "s3cret")
    options = {"authenticator": accounts, "auth_require_tls": False, "auth_required": True}
    with smtp_server(sink, auth_exclude_mechanism=list(withheld), **options) as port:
        smtp = sender(port, smtp_username="crm", smtp_password="s3cret")
        await smtp.send_email(MAIL)
        await smtp.close()
    assert accounts.mechanisms == [used]
    assert len(sink.messages) == 1


@NO_TLS_WARNING
async def test_a_wrong_password_is_a_permanent_failure() -> None:
    accounts = Accounts("crm", "s3cret")
    options = {"authenticator": accounts, "auth_require_tls": False, "auth_required": True}
    with smtp_server(MailSink(), **options) as port, pytest.raises(DeliveryFailure) as caught:
        await sender(port, smtp_username="crm", smtp_password="wrong").send_email(MAIL)
    assert caught.value.transient is False
    assert caught.value.reason.startswith("SMTP 535")


@pytest.fixture
def starttls_server(certificates: Certificates) -> Iterator[tuple[MailSink, Accounts, int]]:
    sink, accounts = MailSink(), Accounts("crm", "s3cret")
    with smtp_server(
        sink,
        tls_context=certificates.server_context(),
        require_starttls=True,
        authenticator=accounts,
        auth_required=True,
    ) as port:
        yield sink, accounts, port


async def test_starttls_then_auth_over_the_encrypted_session(
    starttls_server: tuple[MailSink, Accounts, int], certificates: Certificates
) -> None:
    sink, accounts, port = starttls_server
    smtp = sender(
        port,
        smtp_security="starttls",
        smtp_ca_file=certificates.ca_file,
        smtp_username="crm",
        smtp_password="s3cret",
    )
    await smtp.send_email(MAIL)
    await smtp.send_email(MAIL)
    await smtp.close()
    assert accounts.mechanisms == ["PLAIN"]  # once: the connection was reused
    assert len(sink.messages) == 2


async def test_a_certificate_from_an_unknown_ca_is_a_transient_failure(
    starttls_server: tuple[MailSink, Accounts, int],
) -> None:
    _, accounts, port = starttls_server
    smtp = sender(port, smtp_security="starttls", smtp_username="crm", smtp_password="s3cret")
    with pytest.raises(DeliveryFailure) as caught:
        await smtp.send_email(MAIL)
    assert caught.value.transient is True
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.reason
    assert accounts.mechanisms == []  # the password never went out


async def test_starttls_asked_of_a_server_without_it_is_a_transient_failure() -> None:
    server = ScriptedSmtp()
    async with server.serving():
        with pytest.raises(DeliveryFailure) as caught:
            await sender(server.port, smtp_security="starttls").send_email(MAIL)
    assert caught.value.transient is True
    assert "does not offer STARTTLS" in caught.value.reason
    assert not [c for c in server.commands if c.startswith("MAIL")]


async def test_implicit_tls_with_the_servers_certificate_checked(
    certificates: Certificates,
) -> None:
    sink = MailSink()
    with smtp_server(sink, ssl_context=certificates.server_context()) as port:
        smtp = sender(port, smtp_security="tls", smtp_ca_file=certificates.ca_file)
        await smtp.send_email(MAIL)
        await smtp.close()
    assert [m["Subject"] for m in sink.messages] == ["Hi"]
