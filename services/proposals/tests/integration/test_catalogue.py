"""Catalogue CRUD over HTTP, with optimistic concurrency and CatalogItemChanged on the topic."""

from __future__ import annotations

from typing import Any

from crm_contracts.envelope import Envelope
from crm_contracts.proposals import CatalogItemChanged
from crm_contracts.topics import PROPOSALS
from crm_kit.testing import end_offsets, read_topic


async def test_an_item_is_created_changed_under_if_match_and_each_change_published(
    crm: Any,
) -> None:
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    code = await crm.catalogue_item(price=12_345)
    read = await crm.http.get(f"/catalog/{code}", headers=crm.auth("proposals:read"))
    assert read.status_code == 200
    assert read.headers["ETag"] == '"1"'
    assert read.json()["list_price"] == {"amount_minor": 12_345, "currency": "EUR"}

    change = {
        "name": "Consulting",
        "kind": "service",
        "unit": "hour",
        "list_price": {"amount_minor": 15_000, "currency": "EUR"},
        "active": False,
    }
    missing = await crm.http.put(f"/catalog/{code}", json=change, headers=crm.auth())
    assert missing.status_code == 428
    assert missing.headers["content-type"] == "application/problem+json"
    stale = await crm.put(f"/catalog/{code}", 7, change)
    assert stale.status_code == 412
    changed = await crm.put(f"/catalog/{code}", 1, change)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["version"], changed.json()["active"]) == (2, False)

    records = await read_topic(
        crm.stack.kafka_bootstrap,
        PROPOSALS,
        since=since,
        stop_when=lambda rs: sum(r.key == code.encode() for r in rs) >= 2,
    )
    envelopes = [Envelope.from_bytes(r.value) for r in records if r.key == code.encode()]
    events = [e.open_as(CatalogItemChanged) for e in envelopes]
    assert [(e.version, e.list_price.amount_minor, e.active) for e in events] == [
        (1, 12_345, True),
        (2, 15_000, False),
    ]
    assert {e.producer for e in envelopes} == {"proposals"}


async def test_catalogue_writes_need_the_admin_scope(crm: Any) -> None:
    refused = await crm.http.post(
        "/catalog",
        json={
            "code": "X1",
            "name": "X",
            "kind": "goods",
            "unit": "pcs",
            "list_price": {"amount_minor": 1, "currency": "EUR"},
        },
        headers=crm.writer(),
    )
    assert refused.status_code == 403
    assert await crm.count("catalog", {"_id": "X1"}) == 0


async def test_the_catalogue_lists_in_pages_with_a_cursor(crm: Any) -> None:
    codes = sorted([await crm.catalogue_item() for _ in range(3)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await crm.http.get("/catalog", params=params, headers=crm.auth())).json()
        seen += [i["code"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [c for c in seen if c in codes] == codes
