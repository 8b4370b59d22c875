"""The terms a client is found by, and the store filter a search becomes."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from crm_contacts import domain
from crm_contacts.repository.search import ClientFilter, search_channels, search_terms
from crm_contracts.values import ClientKind, ClientStatus, Language

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _client() -> domain.Client:
    client, _ = domain.register_client(
        client_id="c1",
        kind=ClientKind.ORGANISATION,
        name='OOO "Café Nord"',
        now=AT,
        region="Perm",
        tags=("B2B", "vip"),
        field_of_activity=domain.FieldOfActivity("62.01", "Software"),
    )
    client, _ = client.add_person(
        person_id="p1",
        name="Ivan",
        language=Language.RU,
        channels=domain.Channels.parse(
            {"email": "Ivan.Petrov@acme.example", "mobile": "+7 916 555-12-34"}
        ),
        now=AT,
    )
    return client


def _matches(client: domain.Client, query: dict[str, Any]) -> bool:
    """What the store does with ``query`` on ``client``'s document (the operators a search
    uses, on the search fields; the other fields are taken as matching)."""
    if "$and" in query:
        return all(_matches(client, q) for q in query["$and"])
    if "$or" in query:
        return any(_matches(client, q) for q in query["$or"])
    if "_id" in query:
        return False  # {"_id": {"$in": []}}: nothing to look for
    if "search_terms" in query:
        terms, condition = search_terms(client), query["search_terms"]
    elif "search_channels" in query:
        terms, condition = search_channels(client), query["search_channels"]
    else:
        return True
    if "$all" in condition:
        return set(condition["$all"]) <= set(terms)
    if "$in" in condition:
        return bool(set(condition["$in"]) & set(terms))
    pattern = re.compile(condition["$regex"])
    return any(pattern.match(t) for t in terms)


def test_a_client_is_found_by_its_portrait_and_every_prefix_of_its_name_words() -> None:
    terms = search_terms(_client())
    assert {"s:potential", "a:62.01", "r:Perm", "t:b2b", "t:vip"} <= set(terms)
    assert {"n:c", "n:ca", "n:caf", "n:cafe", "n:n", "n:nord"} <= set(terms)
    assert not any(t.startswith("n:o") for t in terms)  # the legal form is not a word of it


def test_an_email_is_found_from_the_start_of_each_part_and_a_phone_from_any_digit() -> None:
    terms = set(search_channels(_client()))
    assert {
        "e:ivan.petrov@acme.example",
        "e:petrov@acme.example",
        "e:@acme.example",
        "e:acme.example",
        "e:example",
    } <= terms
    assert {"p:79165551234", "p:9165551234", "p:5551234", "p:1234"} <= terms
    assert "p:234" not in terms


def test_a_merged_client_is_found_by_nothing() -> None:
    merged = replace(_client(), merged_into="c2")
    assert (search_terms(merged), search_channels(merged)) == ([], [])


def test_filters_and_text_select_what_they_say() -> None:
    client = _client()
    selected = [
        ClientFilter(),
        ClientFilter(statuses=(ClientStatus.POTENTIAL, ClientStatus.ACTIVE), regions=("Perm",)),
        ClientFilter(tags=(" VIP ", "b2b"), activity_codes=("62.01", "10.11")),
        ClientFilter(text="cafe"),
        ClientFilter(text="NORD, Ltd."),
        ClientFilter(text="nor caf"),
        ClientFilter(text="petrov@acme"),
        ClientFilter(text="916 555"),
        ClientFilter(text="555-12-34"),
    ]
    refused = [
        ClientFilter(statuses=(ClientStatus.FORMER,)),
        ClientFilter(regions=("Omsk",)),
        ClientFilter(tags=("vip", "retail")),
        ClientFilter(curator_id="e1"),
        ClientFilter(text="afe"),  # within a word, not at its start
        ClientFilter(text="nord west"),
        ClientFilter(text="etrov@acme"),
        ClientFilter(text="916 999"),
        ClientFilter(text="!!!"),
    ]
    assert [f for f in selected if not _matches(client, f.query())] == []
    assert [f for f in refused if _matches(client, f.query())] == []


def test_a_search_leaves_merged_clients_out_and_bounds_the_period() -> None:
    query = ClientFilter(registered_from=AT, registered_to=AT).query()
    assert query == {"$and": [{"merged_into": None}, {"registered_at": {"$gte": AT, "$lt": AT}}]}
