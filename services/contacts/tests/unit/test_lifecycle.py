"""The client lifecycle: which status moves are allowed, and what each move records."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from crm_contacts.domain import facts
from crm_contacts.domain.clients import Client, register_client
from crm_contacts.domain.errors import ClientAlreadyMerged, IllegalStatusChange
from crm_contracts.values import ClientKind, ClientStatus

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
S = ClientStatus


def _client(status: ClientStatus = S.POTENTIAL) -> Client:
    client, _ = register_client(client_id="c1", kind=ClientKind.ORGANISATION, name="Acme", now=NOW)
    return Client(**{**vars(client), "status": status})


def test_a_new_client_starts_as_potential_and_records_its_registration() -> None:
    client, happened = register_client(
        client_id="c1", kind=ClientKind.ORGANISATION, name="  Acme   Tools ", now=NOW, by="app"
    )
    assert (client.status, client.name, client.version) == (S.POTENTIAL, "Acme Tools", 1)
    assert happened == [facts.ClientRegistered("app")]


@pytest.mark.parametrize(
    ("start", "path"),
    [
        (S.POTENTIAL, [S.ACTIVE, S.FORMER, S.ACTIVE]),
        (S.POTENTIAL, [S.PARTNER, S.ACTIVE, S.DEALER, S.FORMER]),
        (S.POTENTIAL, [S.DEALER]),
    ],
)
def test_allowed_moves_change_the_status_and_bump_the_version(
    start: ClientStatus, path: list[ClientStatus]
) -> None:
    client = _client(start)
    for step, to in enumerate(path, start=2):
        before = client.status
        client, happened = client.change_status(to, reason=None, now=NOW, by="u")
        assert (client.status, client.version) == (to, step)
        assert happened == [facts.StatusChanged(before, to, None, "u")]


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (S.POTENTIAL, S.FORMER),
        (S.POTENTIAL, S.POTENTIAL),
        (S.ACTIVE, S.POTENTIAL),
        (S.ACTIVE, S.ACTIVE),
        (S.FORMER, S.PARTNER),
        (S.FORMER, S.POTENTIAL),
    ],
)
def test_illegal_moves_are_refused_naming_the_status_field(
    start: ClientStatus, to: ClientStatus
) -> None:
    client = _client(start)
    with pytest.raises(IllegalStatusChange) as refused:
        client.change_status(to, reason=None, now=NOW, by=None)
    assert refused.value.field == "status"
    assert f"{start.value} client cannot become {to.value}" in str(refused.value)


def test_a_merged_client_accepts_no_more_changes() -> None:
    merged = _client().merged_into_survivor("c2", now=NOW)
    with pytest.raises(ClientAlreadyMerged) as refused:
        merged.change_status(S.ACTIVE, reason=None, now=NOW, by=None)
    assert refused.value.survivor_id == "c2"


def test_an_update_records_only_fields_whose_value_changes() -> None:
    client = _client()
    updated, happened = client.update(
        {"name": "Acme", "region": "Perm", "tags": ("B2B", "b2b")}, now=NOW, by="u"
    )
    assert happened == [facts.ClientUpdated(("region", "tags"), "u")]
    assert (updated.region, updated.tags, updated.version) == ("Perm", ("b2b",), 2)
    same, nothing = updated.update({"region": "Perm"}, now=NOW, by="u")
    assert (same, nothing) == (updated, [])
