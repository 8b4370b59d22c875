"""The delivery log's retention setting: for ever, or at least as long as the markers."""

from __future__ import annotations

import pytest
from crm_notify.settings import NotifySettings


def test_a_log_kept_shorter_than_the_consumer_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="processed_marker_ttl_days"):
        NotifySettings(notification_retention_days=7, processed_marker_ttl_days=30)


def test_a_log_kept_for_ever_or_longer_than_the_markers_is_taken() -> None:
    assert NotifySettings(notification_retention_days=0).notification_retention_days == 0
    rules = NotifySettings(notification_retention_days=30).retention()
    assert [(r.field, r.seconds) for r in rules] == [("settled_at", 30 * 86_400)]
