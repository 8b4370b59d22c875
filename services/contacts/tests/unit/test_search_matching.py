"""The search index's entries and the filter applied to them."""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

from crm_contacts.repository.clients import ClientFilter
from crm_contacts.repository.search_index import (
    BUCKET_IDS,
    PAGE_IDS,
    PAGES,
    SearchEntry,
    bucket_of,
    decode_bucket,
    format_page,
    millis_of,
    page_of,
    parse_page,
)
from crm_contracts.values import ClientStatus

AT = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
ENTRY = SearchEntry(
    client_id="c1",
    at_ms=millis_of(AT),
    status="active",
    activity_code="62.01",
    region="Perm",
    tags=("b2b", "vip"),
    curator_id="e1",
    name_norm="acme tools",
    emails=("ivan@acme.example",),
    phones=("+74951234567",),
)


def test_an_entry_survives_encoding() -> None:
    decoded = SearchEntry.decode("c1", ENTRY.encode())
    assert decoded.encode() == ENTRY.encode()
    assert (decoded.client_id, decoded.registered_at, list(decoded.phones)) == (
        "c1",
        AT,
        ["+74951234567"],
    )


def test_a_whole_bucket_decodes_at_once_and_skips_tombstones() -> None:
    values = {"c1": f"{3:010d}|{ENTRY.encode()}", "gone": f"{2:010d}|"}
    [entry] = decode_bucket(values)
    assert (entry.client_id, entry.at_ms, entry.region) == ("c1", millis_of(AT), "Perm")


def test_each_portrait_filter_narrows() -> None:
    assert ClientFilter().matches(ENTRY)
    assert ClientFilter(statuses=(ClientStatus.POTENTIAL, ClientStatus.ACTIVE)).matches(ENTRY)
    assert not ClientFilter(statuses=(ClientStatus.FORMER,)).matches(ENTRY)
    assert ClientFilter(regions=("Omsk", "Perm"), activity_codes=("62.01",)).matches(ENTRY)
    assert not ClientFilter(regions=("Omsk",)).matches(ENTRY)
    assert ClientFilter(tags=(" VIP ", "b2b")).matches(ENTRY)
    assert not ClientFilter(tags=("vip", "retail")).matches(ENTRY)
    assert not ClientFilter(curator_id="e2").matches(ENTRY)


def test_the_period_compares_milliseconds_as_the_store_does() -> None:
    # The request says microseconds; the store (and so the entry) keeps milliseconds.
    assert ClientFilter(registered_from=AT + timedelta(microseconds=900)).matches(ENTRY)
    assert not ClientFilter(registered_to=AT + timedelta(microseconds=900)).matches(ENTRY)
    moscow = timezone(timedelta(hours=3))
    assert ClientFilter(registered_to=(AT + timedelta(seconds=1)).astimezone(moscow)).matches(ENTRY)


def test_text_matches_the_name_an_email_or_phone_digits() -> None:
    assert ClientFilter(text="ACME, Ltd.").matches(ENTRY)
    assert ClientFilter(text="ivan@acme").matches(ENTRY)
    assert ClientFilter(text="495 123-45").matches(ENTRY)
    assert not ClientFilter(text="495 999").matches(ENTRY)
    assert not ClientFilter(text="nord").matches(ENTRY)


def test_pages_split_every_bucket_evenly() -> None:
    """An entry's page is one of its bucket's, and the pages share the entries evenly, so that
    a page's size (what an entry write rewrites) is the bucket's divided by ``PAGES``."""
    rng = random.Random(7)
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(32 * PAGES * 40)]
    counts: Counter[str] = Counter()
    for client_id in ids:
        page = page_of(client_id)
        assert page in PAGE_IDS[bucket_of(client_id)]
        counts[page] += 1
    assert len(counts) == len(BUCKET_IDS) * PAGES
    assert max(counts.values()) < 2 * 40
    assert min(counts.values()) > 40 // 2


def test_a_page_string_gives_back_its_entries() -> None:
    entry = SearchEntry("c1", 1, "active", None, None, (), None, "a|b\nc", (), ())
    entries = {"c1": "0000000002|" + entry.encode(), "c2": "0000000003|"}
    assert parse_page(format_page(entries)) == entries
    assert parse_page("") == {}
