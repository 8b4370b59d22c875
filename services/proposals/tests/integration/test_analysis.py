"""Operational analysis and mining on the real stack: the pipeline report by curator, and a
sales model mined from closed deals, flagged plans, and its publication.

Mining reads every closed proposal with a plan in the service's database; the other test
modules close only proposals without plans, so the deals here are the only ones mined.
"""

from __future__ import annotations

from typing import Any

from crm_contracts.envelope import Envelope
from crm_contracts.proposals import SalesModelPublished
from crm_contracts.topics import PROPOSALS
from crm_kit.testing import end_offsets, read_topic

STEPS = [
    {"key": "call", "title": "Call"},
    {"key": "visit", "title": "Visit", "depends_on": ["call"], "required": False},
]


async def _deal(crm: Any, client_id: str, item: str, *, visit: bool, outcome: str | None) -> str:
    pid = (await crm.proposal(client_id, [{"item_code": item, "quantity": 2}]))["id"]
    made = await crm.put(f"/proposals/{pid}/plan", 1, {"steps": STEPS})
    call, visit_step = made.json()["steps"]
    version = 2
    await crm.post(f"/steps/{call['id']}/start", version)
    await crm.post(f"/steps/{call['id']}/complete", version + 1)
    version += 2
    if visit:
        await crm.post(f"/steps/{visit_step['id']}/start", version)
        await crm.post(f"/steps/{visit_step['id']}/complete", version + 1)
    else:
        await crm.post(f"/steps/{visit_step['id']}/skip", version)
    version += 2 if visit else 1
    if outcome is not None:
        await crm.post(f"/proposals/{pid}/status", version, {"status": "presented"})
        closing = (
            await crm.post(f"/proposals/{pid}/win", version + 1)
            if outcome == "won"
            else await crm.post(f"/proposals/{pid}/loss", version + 1, {"reason": "budget"})
        )
        assert closing.status_code == 200, closing.text
    return pid


async def _flagged(crm: Any) -> set[str]:
    listed = await crm.http.get(
        "/proposals", params={"flagged": "true", "limit": 200}, headers=crm.auth()
    )
    assert listed.status_code == 200, listed.text
    assert listed.json()["next_cursor"] is None
    return {p["id"] for p in listed.json()["items"]}


async def test_the_pipeline_and_a_model_mined_from_closed_deals(crm: Any) -> None:
    client_id, curator = await crm.client_with_curator()
    item = await crm.catalogue_item(price=5_000)
    await _deal(crm, client_id, item, visit=True, outcome="won")
    await _deal(crm, client_id, item, visit=False, outcome="lost")
    open_pid = await _deal(crm, client_id, item, visit=False, outcome=None)

    report = await crm.http.get(
        "/reports/pipeline", params={"curator_id": curator}, headers=crm.auth("proposals:read")
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["registered"], body["won"], body["conversion_bp"]) == (3, 1, 3_333)
    assert {k: v["count"] for k, v in body["by_status"].items()} == {
        "draft": 1,
        "lost": 1,
        "won": 1,
    }
    assert body["by_status"]["won"]["totals"] == [{"amount_minor": 10_000, "currency": "EUR"}]
    mine = body["by_curator"][curator]
    assert (mine["count"], mine["won"], mine["conversion_bp"]) == (3, 1, 3_333)
    months = body["by_month"].values()
    assert (sum(m["count"] for m in months), sum(m["won"] for m in months)) == (3, 1)

    mined = (await crm.http.get("/sales-models/mined", headers=crm.auth())).json()
    assert (mined["won_deals"], mined["lost_deals"]) == (1, 1)
    assert [
        (s["step_id"], s["depends_on"], s["won_share_bp"], s["lost_share_bp"], s["decisive"])
        for s in mined["steps"]
    ] == [("call", [], 10_000, 10_000, False), ("visit", ["call"], 10_000, 0, True)]
    assert mined["flagged_plans"] == [
        {"proposal_id": open_pid, "skipped_decisive_steps": ["visit"]}
    ]

    # The run stored its flags: the open plan that skipped the visit is listed as flagged...
    assert await _flagged(crm) == {open_pid}
    for read in (f"/proposals/{open_pid}", f"/proposals/{open_pid}/plan"):
        assert (await crm.http.get(read, headers=crm.auth())).json()["flagged_steps"] == ["visit"]
    # ...and a plan skipping the visit after the run is flagged as the step is skipped.
    later_pid = await _deal(crm, client_id, item, visit=False, outcome=None)
    later = (await crm.http.get(f"/proposals/{later_pid}", headers=crm.auth())).json()
    assert later["flagged_steps"] == ["visit"]
    assert await _flagged(crm) == {open_pid, later_pid}
    # A new plan has skipped nothing: the flag goes.
    renewed = await crm.put(f"/proposals/{later_pid}/plan", later["version"], {"steps": STEPS})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["flagged_steps"] == []
    assert await _flagged(crm) == {open_pid}

    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    published = await crm.http.post(
        "/sales-models/mined/publish", json={"name": "Mined"}, headers=crm.auth()
    )
    assert published.status_code == 201, published.text
    model = published.json()
    assert (model["origin"], model["deals_count"], model["published_version"]) == ("mined", 1, 1)
    records = await read_topic(
        crm.stack.kafka_bootstrap,
        PROPOSALS,
        since=since,
        stop_when=lambda rs: any(r.key == model["id"].encode() for r in rs),
    )
    (envelope,) = [Envelope.from_bytes(r.value) for r in records if r.key == model["id"].encode()]
    event = envelope.open_as(SalesModelPublished)
    assert (event.origin, event.deals_count, [s.step_id for s in event.steps]) == (
        "mined",
        1,
        ["call", "visit"],
    )
