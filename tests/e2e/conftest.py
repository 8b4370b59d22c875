"""The four services (and the local mail catcher) as separate processes on the real stack."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from crm_kit.testing import StackEndpoints
from crm_kit.tokens import keygen
from crm_stack import services
from crm_stack.config import StackConfig


@dataclasses.dataclass(frozen=True)
class Processes:
    state_dir: Path
    private_key: Path

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail" / "new"


@pytest.fixture(scope="session")
def processes(
    stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    state = tmp_path_factory.mktemp("e2e-state")
    keygen(state / "keys")
    cfg = dataclasses.replace(StackConfig.from_env(), state_dir=state)
    # The processes take only what happens from now on, not the topics' earlier history.
    saved = {k: os.environ.get(k) for k in ("CRM_CONSUMER_START_AT_END", "CRM_LOG_LEVEL")}
    os.environ["CRM_CONSUMER_START_AT_END"] = "true"
    os.environ["CRM_LOG_LEVEL"] = "WARNING"
    try:
        services.up(cfg, say=lambda _: None)
        yield Processes(state, state / "keys" / "jwt-private.pem")
    finally:
        services.down(cfg, say=lambda _: None)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
