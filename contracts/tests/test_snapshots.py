"""The committed snapshots match the contracts, and the contracts only ever grew."""

import json
from datetime import UTC, datetime
from uuid import uuid4

import pytest
from crm_contracts import EVENT_TYPES, Envelope
from crm_contracts.base import ContractEvent
from crm_contracts.compat import check_schema
from crm_contracts.examples import example_events
from crm_contracts.proposals import ProposalLost, ProposalStatusChanged, ProposalWon
from crm_contracts.snapshot import (
    SCHEMAS_DIR,
    WRITE_COMMAND,
    breaking_problems,
    envelope_schema,
    event_schema,
    render,
    snapshot_path,
    stale_problems,
)


@pytest.mark.parametrize("cls", EVENT_TYPES.values(), ids=lambda cls: cls.event_type)
def test_every_event_has_a_committed_snapshot_equal_to_its_schema(
    cls: type[ContractEvent],
) -> None:
    path = snapshot_path(cls)
    assert path.exists(), f"{path} is missing: run `{WRITE_COMMAND}` and commit it"
    assert path.read_text(encoding="utf-8") == render(event_schema(cls)), (
        f"{path.name} is stale: the contract changed; run `{WRITE_COMMAND}` and commit it"
    )


def test_the_envelope_snapshot_is_current() -> None:
    path = SCHEMAS_DIR / "envelope.json"
    assert path.read_text(encoding="utf-8") == render(envelope_schema()), (
        f"envelope.json is stale: run `{WRITE_COMMAND}` and commit it"
    )


def test_no_snapshot_is_stale_or_missing() -> None:
    assert stale_problems() == []


def test_no_contract_changed_in_a_breaking_way_since_its_snapshots() -> None:
    assert breaking_problems() == []


def test_removing_an_event_class_is_reported_as_breaking(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(EVENT_TYPES, "PlanGenerated")

    assert breaking_problems() == [
        "PlanGenerated (against its v1 snapshot): event class removed;"
        " a published contract must stay"
    ]


def test_a_removed_class_is_reported_against_every_version_it_was_published_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delitem(EVENT_TYPES, "ProposalLost")

    assert breaking_problems() == [
        f"ProposalLost (against its v{n} snapshot): event class removed;"
        " a published contract must stay"
        for n in (1, 2)
    ]


@pytest.mark.parametrize(
    "cls", [ProposalStatusChanged, ProposalWon, ProposalLost], ids=lambda c: c.event_type
)
def test_a_raised_schema_version_keeps_the_earlier_snapshot_and_stays_additive_to_it(
    cls: type[ContractEvent],
) -> None:
    earlier = SCHEMAS_DIR / cls.topic / f"{cls.event_type}.v1.json"

    assert cls.schema_version >= 2
    assert snapshot_path(cls).exists()
    assert check_schema(json.loads(earlier.read_text()), event_schema(cls), cls.event_type) == []


def test_making_a_field_added_in_version_2_required_would_break_version_1() -> None:
    earlier = json.loads((SCHEMAS_DIR / ProposalWon.topic / "ProposalWon.v1.json").read_text())
    stricter = event_schema(ProposalWon)
    stricter["required"] = [*stricter["required"], "client_tax_id"]

    assert check_schema(earlier, stricter, "ProposalWon") == [
        "ProposalWon.client_tax_id: new required property"
    ]


def test_a_won_deal_published_under_schema_version_1_still_opens() -> None:
    won = next(e for e in example_events() if isinstance(e, ProposalWon))
    added_in_v2 = {
        "version",
        "client_kind",
        "client_tax_id",
        "client_country",
        "client_legal_address",
        "client_contact",
    }
    payload = {k: v for k, v in won.model_dump(mode="json").items() if k not in added_in_v2}
    old = Envelope(
        event_id=uuid4(),
        event_type="ProposalWon",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        producer="proposals",
        key=won.proposal_id,
        payload=payload,
    )

    opened = old.open_as(ProposalWon)

    assert opened.lines == won.lines
    assert (opened.version, opened.client_tax_id, opened.client_contact) == (None, None, None)


def test_snapshots_are_stable_text_with_sorted_keys_and_a_trailing_newline() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": 3}})

    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
