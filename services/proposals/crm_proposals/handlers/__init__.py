"""Use cases: load, act on the domain, save the new state with its events in one write."""

from __future__ import annotations

from crm_kit.problems import VersionConflict


def check_version(kind: str, ident: str, current: int, expected: int) -> None:
    """Refuse early when the caller's If-Match is stale; the write re-checks it atomically."""
    if current != expected:
        raise VersionConflict(
            f"{kind} {ident} is at version {current}, not {expected}", current_version=current
        )
