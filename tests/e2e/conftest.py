"""The four services (and the local mail catcher) as separate processes on the real stack."""

from __future__ import annotations

import dataclasses
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_kit.testing import StackEndpoints, forget_groups_blocking
from crm_kit.tokens import keygen
from crm_stack import services
from crm_stack.config import StackConfig
from pymongo import MongoClient


@dataclasses.dataclass(frozen=True)
class Processes:
    state_dir: Path
    private_key: Path

    @property
    def mail_dir(self) -> Path:
        return self.state_dir / "mail" / "new"


@pytest.fixture(scope="module")
def processes(
    stack: StackEndpoints, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Processes]:
    state = tmp_path_factory.mktemp("e2e-state")
    keygen(state / "keys")
    stack_cfg = StackConfig.from_env()
    cfg = dataclasses.replace(stack_cfg, state_dir=state)
    # The broker's users (one per service) are the stack's: the processes log in as them.
    cfg.keys_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(stack_cfg.kafka_users_file, cfg.kafka_users_file)
    # Fresh consumer groups that start at the topics' end: the processes take only what happens
    # from now on, whatever a long-lived stack's groups have still to catch up on.
    run = uuid.uuid4().hex[:8]
    env = {"CRM_CONSUMER_START_AT_END": "true", "CRM_LOG_LEVEL": "WARNING"}
    # Own databases too, so a long-lived stack's leftovers (retries due, say) play no part.
    names = ("contacts", "campaigns", "proposals", "notify")
    for name in names:
        # Named in the service's own group space: each runs as its own Kafka user.
        env[f"CRM_{name.upper()}_CONSUMER_GROUP"] = f"crm-{name}-e2e-{run}"
        env[f"CRM_{name.upper()}_MONGO_DATABASE"] = f"e2e_{name}_{run}"
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        services.up(cfg, say=lambda _: None)
        yield Processes(state, state / "keys" / "jwt-private.pem")
    finally:
        services.down(cfg, say=lambda _: None)
        forget_groups_blocking(stack.kafka_bootstrap, (f"crm-{name}-e2e-{run}" for name in names))
        client: MongoClient[dict[str, Any]] = MongoClient(stack.mongo_uri)
        try:
            for name in names:
                client.drop_database(f"e2e_{name}_{run}")
        finally:
            client.close()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
