"""The counting SMTP server of the fault tests and benches: what it counts, and when it is done."""

from __future__ import annotations

import smtplib
from collections import Counter

from crm_kit.testing import CountingSmtp, smtp_server


def _send(port: int, *to: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail("sender@example.com", list(to), b"Subject: hello\r\n\r\nbody\r\n")


def test_it_counts_each_copy_per_address_of_its_domain_and_notes_when_all_had_one() -> None:
    handler = CountingSmtp("@run.test", expected=2)
    with smtp_server(handler) as port:
        _send(port, "a@run.test", "b@other.test")
        assert handler.first_at is not None
        assert handler.all_at is None
        _send(port, "a@run.test")
        assert handler.all_at is None, "a second copy to the same address is not a new one"
        _send(port, "c@run.test", "x@run.test.other")
        assert handler.all_at is not None
        assert handler.first_at <= handler.all_at

    # Addresses of other domains were accepted but not counted; the duplicate is visible.
    assert handler.snapshot() == Counter({"a@run.test": 2, "c@run.test": 1})
    assert handler.count == 3


def test_without_an_expected_count_it_never_says_all_arrived() -> None:
    handler = CountingSmtp("@run.test")
    with smtp_server(handler) as port:
        _send(port, "a@run.test")
    assert handler.received == Counter({"a@run.test": 1})
    assert handler.all_at is None
