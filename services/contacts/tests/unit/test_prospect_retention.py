"""When a prospect is due for deletion: never converted, and idle for the whole period."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from crm_contacts.domain.clients import Client, register_client
from crm_contacts.domain.retention import ProspectRetention
from crm_contracts.values import ClientKind, ClientStatus

REGISTERED = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
RULE = ProspectRetention(days=730)
LATER = REGISTERED + timedelta(days=731)


def _prospect(**changes: object) -> Client:
    client, _ = register_client(
        client_id="c1", kind=ClientKind.ORGANISATION, name="Acme", now=REGISTERED
    )
    return replace(client, **changes)  # type: ignore[arg-type]


def test_an_idle_prospect_expires_with_what_goes_with_it() -> None:
    client = _prospect()

    fact = RULE.expire(
        client,
        last_activity=RULE.last_activity(client),
        now=LATER,
        contact_ids=("r1",),
        merged_client_ids=("c0",),
    )

    assert fact is not None
    assert (fact.contact_ids, fact.merged_client_ids, fact.retention_days) == (
        ("r1",),
        ("c0",),
        730,
    )
    assert (fact.last_activity_at, fact.at) == (REGISTERED, LATER)


@pytest.mark.parametrize(
    "status", [ClientStatus.ACTIVE, ClientStatus.PARTNER, ClientStatus.DEALER, ClientStatus.FORMER]
)
def test_a_client_that_converted_never_expires(status: ClientStatus) -> None:
    client = _prospect(status=status)

    assert RULE.expire(client, last_activity=REGISTERED, now=LATER) is None


def test_a_merged_client_is_left_to_its_survivor() -> None:
    client = _prospect(merged_into="c2")

    assert RULE.expire(client, last_activity=REGISTERED, now=LATER) is None


def test_the_latest_of_change_and_timeline_is_the_last_activity() -> None:
    changed = REGISTERED + timedelta(days=100)
    met = REGISTERED + timedelta(days=200)
    client = _prospect(updated_at=changed)

    assert RULE.last_activity(client, [None]) == changed
    assert RULE.last_activity(client, [met]) == met
    assert RULE.expire(client, last_activity=met, now=LATER) is None
    assert RULE.expire(client, last_activity=met, now=met + timedelta(days=731)) is not None
