"""The committed snapshots match the contracts, and the contracts only ever grew."""

import pytest
from crm_contracts import EVENT_TYPES
from crm_contracts.base import ContractEvent
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
    monkeypatch.delitem(EVENT_TYPES, "ProposalLost")

    assert breaking_problems() == [
        "ProposalLost (against its v1 snapshot): event class removed;"
        " a published contract must stay"
    ]


def test_snapshots_are_stable_text_with_sorted_keys_and_a_trailing_newline() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": 3}})

    assert text == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'
