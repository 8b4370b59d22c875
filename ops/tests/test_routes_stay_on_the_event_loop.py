"""No route of any service runs its endpoint or a dependency in the thread pool.

FastAPI runs a plain ``def`` endpoint or dependency in a worker thread: a hand-off and a wake-up
per call, per request. The kit's ``get_runtime`` and ``expected_version`` used to be plain
functions, which put every request of every service through the pool (about a third of a
simple read's CPU in ``bench/rest_contacts.py``). This keeps it that way.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
from crm_ops.apidocs import SERVICES
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute


def _api_routes(routes: Iterable[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # a router included into the app
            yield from _api_routes(route.original_router.routes)


def _blocking_calls(dependant: Dependant) -> Iterator[str]:
    call = dependant.call
    if call is not None and not (
        inspect.iscoroutinefunction(call)
        or inspect.iscoroutinefunction(getattr(call, "__call__", None))  # noqa: B004
    ):
        yield getattr(call, "__qualname__", repr(call))
    for sub in dependant.dependencies:
        yield from _blocking_calls(sub)


@pytest.mark.parametrize("service", SERVICES)
def test_every_endpoint_and_dependency_is_a_coroutine(service: str) -> None:
    module = importlib.import_module(f"crm_{service}.app")
    settings = getattr(module, f"{service.capitalize()}Settings")(
        environment="development", kafka_bootstrap="kafka:9092", jwt_public_key_file=None
    )
    routes = list(_api_routes(module.create(settings).routes))
    assert len(routes) > 5, "the routes of the service were not found"
    blocking = sorted(
        {
            f"{sorted(r.methods)} {r.path}: {name}"
            for r in routes
            for name in _blocking_calls(r.dependant)
        }
    )
    assert blocking == []
