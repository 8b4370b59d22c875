"""The request-latency metric labels requests by the route template the router matched."""

from __future__ import annotations

import httpx
from crm_kit.metrics import LatencyMiddleware
from fastapi import FastAPI, HTTPException
from prometheus_client import REGISTRY


def _count(route: str, method: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "crm_http_request_duration_seconds_count",
        {"service": "latencytest", "method": method, "route": route, "status": status},
    )
    return value or 0.0


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def get_item(item_id: str) -> dict[str, str]:
        if item_id == "missing":
            raise HTTPException(status_code=404)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("unhandled")

    app.add_middleware(LatencyMiddleware, service="latencytest")
    return app


async def test_requests_are_counted_by_template_method_and_status() -> None:
    before = {
        "ok": _count("/items/{item_id}", "GET", "200"),
        "404": _count("/items/{item_id}", "GET", "404"),
        "unmatched": _count("unmatched", "GET", "404"),
        "405": _count("/items/{item_id}", "POST", "405"),
        "500": _count("/boom", "GET", "500"),
    }
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/items/1")).status_code == 200
        assert (await client.get("/items/2")).status_code == 200
        assert (await client.get("/items/missing")).status_code == 404
        assert (await client.get("/nowhere/at/all")).status_code == 404
        assert (await client.post("/items/3")).status_code == 405
        assert (await client.get("/boom")).status_code == 500

    assert _count("/items/{item_id}", "GET", "200") == before["ok"] + 2
    assert _count("/items/{item_id}", "GET", "404") == before["404"] + 1
    assert _count("unmatched", "GET", "404") == before["unmatched"] + 1
    assert _count("/boom", "GET", "500") == before["500"] + 1
    # A method the route does not allow is still labelled with the route it addressed.
    assert _count("/items/{item_id}", "POST", "405") == before["405"] + 1
