"""Retention settings from the environment: days, with 0 or an empty value for ever."""

from __future__ import annotations

import pytest
from crm_kit.retention import TtlRule
from crm_kit.settings import ServiceSettings


def test_an_empty_variable_keeps_for_ever_and_a_number_is_days(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CRM_AUDIT_RETENTION_DAYS", "")
    monkeypatch.setenv("CRM_FAILED_OUTBOX_RETENTION_DAYS", "0.5")

    settings = ServiceSettings()

    assert (settings.audit_retention_days, settings.failed_outbox_retention_days) == (None, 0.5)


def test_a_negative_retention_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FAILED_OUTBOX_RETENTION_DAYS", "-1")

    with pytest.raises(ValueError, match="failed_outbox_retention_days"):
        ServiceSettings()


@pytest.mark.parametrize(("days", "seconds"), [(None, None), (0, None), (2, 172_800)])
def test_a_rule_expires_after_its_days_in_seconds(days: float | None, seconds: int | None) -> None:
    assert TtlRule("c", "at", days, "at_ttl").seconds == seconds
