"""The one way services read the time: aware UTC, truncated to what the store keeps."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """Now in UTC at millisecond precision, so a value reads back equal after a store round trip."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)
