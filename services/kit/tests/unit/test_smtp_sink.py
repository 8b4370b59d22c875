"""The benches' lean SMTP server (crm_kit.smtp_sink): what it takes, counts and refuses."""

from __future__ import annotations

import smtplib
import socket
from collections import Counter

import pytest
from crm_kit.smtp_sink import MAX_LINE, sink_server
from crm_kit.testing import CountingSmtp


class Client:
    """A raw SMTP client: writes exactly what a test gives and reads reply lines."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.file = self.sock.makefile("rb")

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, count: int) -> list[str]:
        """The next ``count`` replies, each as its last line (a multi-line one whole)."""
        out: list[str] = []
        lines: list[str] = []
        while len(out) < count:
            line = self.file.readline().decode().rstrip("\r\n")
            assert line, f"the server closed the connection after {out + lines}"
            lines.append(line)
            if line[3:4] != "-":
                out.append("\n".join(lines))
                lines = []
        return out

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def test_smtplib_sends_to_several_recipients_and_only_the_domain_is_counted() -> None:
    handler = CountingSmtp("@run.test", expected=3)
    with sink_server(handler.count_message) as port:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            refused = smtp.sendmail("s@x.test", ["a@run.test", "b@other.test"], b"Hi\r\n.\r\n")
            assert refused == {}
            smtp.sendmail("s@x.test", ["a@run.test", "c@run.test"], b"Subject: x\r\n\r\nbody")
        assert handler.all_at is None
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.sendmail("s@x.test", ["d@run.test"], b"")
        assert handler.all_at is not None
    assert handler.snapshot() == Counter({"a@run.test": 2, "c@run.test": 1, "d@run.test": 1})


def test_pipelined_transactions_and_an_ending_split_across_writes() -> None:
    counted: list[list[str]] = []
    with sink_server(lambda rcpts: counted.append(list(rcpts))) as port:
        client = Client(port)
        assert client.replies(1)[0].startswith("220 ")
        client.write(b"EHLO me\r\n")
        ehlo = client.replies(1)[0]
        assert "250-PIPELINING" in ehlo
        assert ehlo.endswith("250 HELP")
        # MAIL, two RCPTs and DATA in one write; the message's lines starting with a dot are
        # dot-stuffed, and its ending line arrives in pieces.
        client.write(b"MAIL FROM:<s@x.test> SIZE=40\r\nRCPT TO:<a@x.test>\r\n")
        client.write(b"RCPT TO:<b@x.test>\r\nDATA\r\nSubject: s\r\n\r\n..\r\n...x\r\nend\r")
        assert client.replies(4) == [
            "250 2.1.0 OK",
            "250 2.1.5 OK",
            "250 2.1.5 OK",
            "354 End data with <CR><LF>.<CR><LF>",
        ]
        assert counted == []
        client.write(b"\n.")
        client.write(b"\r")
        # The ending and the next whole transaction in one write.
        client.write(b"\nMAIL FROM:<s@x.test>\r\nRCPT TO:<c@x.test>\r\nDATA\r\n.\r\nQUIT\r\n")
        assert client.replies(6) == [
            "250 2.0.0 OK",
            "250 2.1.0 OK",
            "250 2.1.5 OK",
            "354 End data with <CR><LF>.<CR><LF>",
            "250 2.0.0 OK",
            "221 2.0.0 Bye",
        ]
        assert client.file.readline() == b"", "QUIT closes the connection"
        client.close()
    assert counted == [["a@x.test", "b@x.test"], ["c@x.test"]]


def test_commands_out_of_order_or_unknown_are_refused_and_nothing_is_counted() -> None:
    counted: list[list[str]] = []
    with sink_server(counted.append) as port:
        client = Client(port)
        client.replies(1)
        client.write(
            b"HELO me\r\nRCPT TO:<a@x.test>\r\nDATA\r\nMAIL FROM:<s@x.test>\r\n"
            b"MAIL FROM:<s@x.test>\r\nDATA\r\nRCPT TO:a@x.test\r\nMAIL FROM:\r\nVRFY a\r\n\r\n"
            b"RSET\r\nNOOP\r\nDATA\r\n"
        )
        replies = client.replies(13)
        client.close()
    assert [reply[:3] for reply in replies] == [
        "250",  # HELO
        "503",  # RCPT before MAIL
        "503",  # DATA before MAIL
        "250",  # MAIL
        "503",  # a second MAIL
        "503",  # DATA before RCPT
        "501",  # RCPT without angle brackets
        "503",  # MAIL again (still nested)
        "502",  # VRFY
        "502",  # an empty line
        "250",  # RSET
        "250",  # NOOP
        "503",  # DATA after RSET
    ]
    assert counted == []


def test_a_line_longer_than_allowed_is_refused_and_the_connection_closed() -> None:
    with sink_server(lambda rcpts: None) as port:
        client = Client(port)
        client.replies(1)
        client.write(b"NOOP " + b"x" * (MAX_LINE + 10))
        assert client.replies(1) == ["500 5.5.2 Line too long"]
        assert client.file.readline() == b""
        client.close()


@pytest.mark.parametrize("pipelining", [True, False])
def test_pipelining_is_offered_unless_asked_not_to(pipelining: bool) -> None:
    with (
        sink_server(lambda rcpts: None, pipelining=pipelining) as port,
        smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp,
    ):
        smtp.ehlo()
        assert smtp.has_extn("pipelining") is pipelining
        assert smtp.has_extn("size")


def test_sessions_left_open_do_not_hold_the_server_when_the_block_ends() -> None:
    with sink_server(lambda rcpts: None) as port:
        client = Client(port)
        client.replies(1)
    assert client.file.readline() == b"", "the open session was closed with the server"
    client.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_bdat_chunks_in_pieces_and_a_refused_chunk_read_and_dropped() -> None:
    counted: list[list[str]] = []
    with sink_server(counted.append) as port:
        client = Client(port)
        client.replies(1)
        client.write(b"EHLO me\r\n")
        assert "250-CHUNKING" in client.replies(1)[0]
        # A chunk before any recipient is refused, and its octets (holding what would be
        # commands) are read and dropped: the session stays in step.
        client.write(b"MAIL FROM:<s@x.test>\r\nBDAT 12\r\nQUIT\r\nRSET\r\n")
        assert client.replies(2) == ["250 2.1.0 OK", "503 5.5.1 Error: need RCPT command"]
        # A message in two chunks, the second (LAST) split across writes, the next
        # transaction's envelope right after it.
        client.write(b"RCPT TO:<a@x.test>\r\nBDAT 5\r\nab\r\n.BDAT 5 LAST\r\n\r\n")
        client.write(b".\r\nMAIL FROM:<s@x.test>\r\nRCPT TO:<b@x.test>\r\nBDAT 0 LAST\r\n")
        client.write(b"BDAT x\r\nBDAT 3 FIRST\r\n")
        assert client.replies(8) == [
            "250 2.1.5 OK",
            "250 2.0.0 chunk taken",
            "250 2.0.0 OK",
            "250 2.1.0 OK",
            "250 2.1.5 OK",
            "250 2.0.0 OK",
            "501 5.5.4 Syntax: BDAT <size> [LAST]",
            "501 5.5.4 Syntax: BDAT <size> [LAST]",
        ]
        client.close()
    assert counted == [["a@x.test"], ["b@x.test"]]


def test_without_chunking_bdat_is_not_a_command() -> None:
    with sink_server(lambda rcpts: None, chunking=False) as port:
        client = Client(port)
        client.replies(1)
        client.write(b"EHLO me\r\nBDAT 0 LAST\r\n")
        ehlo, bdat = client.replies(2)
        client.close()
    assert "CHUNKING" not in ehlo
    assert bdat.startswith("502 ")
