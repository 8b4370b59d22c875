"""``crm_kit.app.serve``: every service's entry point runs uvicorn on its settings' address,
after freezing the start-up heap out of the garbage collector."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from crm_kit.app import serve
from crm_kit.settings import ServiceSettings
from fastapi import FastAPI


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append({"app": app, **kw}))
    threshold = gc.get_threshold()
    gc.unfreeze()
    yield seen
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_serve_freezes_the_start_up_heap_and_runs_uvicorn_on_the_settings_address(
    calls: list[dict[str, Any]],
) -> None:
    app = FastAPI()
    settings = ServiceSettings(
        http_host="127.0.0.9", http_port=8123, http_keep_alive_s=70, gc_young_threshold=12_345
    )
    assert gc.get_freeze_count() == 0

    serve(app, settings)

    assert calls == [
        {
            "app": app,
            "host": "127.0.0.9",
            "port": 8123,
            "timeout_keep_alive": 70,
            "log_config": None,
        }
    ]
    assert gc.get_freeze_count() > 10_000  # the modules and app built so far
    young, middle, old = gc.get_threshold()
    assert young == 12_345
    assert middle >= 20
    assert old >= 50


def test_a_zero_threshold_keeps_pythons_collector_settings(calls: list[dict[str, Any]]) -> None:
    before = gc.get_threshold()

    serve(FastAPI(), ServiceSettings(gc_young_threshold=0))

    assert len(calls) == 1
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_negative_threshold_is_refused() -> None:
    with pytest.raises(ValueError, match="gc_young_threshold"):
        ServiceSettings(gc_young_threshold=-1)


def test_idle_connections_outlive_the_callers_pool_expiry_by_default() -> None:
    # httpx drops an idle pooled connection after 5 s; the service must not close it first.
    assert ServiceSettings().http_keep_alive_s > 5
