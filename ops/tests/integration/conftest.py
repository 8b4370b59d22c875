"""The ops CLI's integration tests work on topics of their own (``test.ops_…``), which the
operator user ``crm-ops`` may not write (it replays dead letters onto the service topics only):
so here the CLI logs in as the stack's admin (``CRM_KAFKA_*``), not as ``CRM_OPS_KAFKA_*``."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _ops_cli_as_the_stack_admin(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CRM_OPS_KAFKA_"):
            monkeypatch.delenv(name)
