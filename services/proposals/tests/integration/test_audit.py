"""Who did what to a proposal, when, through which app: GET /audit/{proposal_id} lists every
change with the employee and the app (the envelope's actor), in the order they happened."""

from __future__ import annotations

from typing import Any


async def test_a_proposals_audit_trail_names_the_employee_and_the_app_of_each_change(
    crm: Any,
) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item()
    seller = await crm.employee("Maria")
    as_seller = crm.signed_in(seller, "sales")
    created = await crm.http.post(
        "/proposals",
        json={
            "client_id": client_id,
            "title": "Pumps",
            "lines": [{"item_code": item, "quantity": 2}],
        },
        headers=as_seller,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    await crm.settled()
    presented = await crm.post_as(as_seller, f"/proposals/{pid}/status", 1, {"status": "presented"})
    assert presented.status_code == 200, presented.text
    won = await crm.post(f"/proposals/{pid}/win", 2)  # an internal app on its own account
    assert won.status_code == 200, won.text

    trail = await crm.http.get(f"/audit/{pid}", headers=crm.auth("proposals:read"))
    assert trail.status_code == 200, trail.text
    items = trail.json()["items"]
    by_type = [(i["event_type"], i["actor"]) for i in items]
    seller_via = {"app": f"user-{seller}", "employee_id": seller}
    app = {"app": "test-app", "employee_id": None}
    assert by_type[0] == ("ProposalRegistered", seller_via)
    assert ("ProposalStatusChanged", seller_via) in by_type
    assert ("ProposalWon", app) in by_type
    assert [i["occurred_at"] for i in items] == sorted(i["occurred_at"] for i in items)

    nobody = await crm.http.get("/audit/no-such-proposal", headers=crm.auth("proposals:read"))
    assert (nobody.status_code, nobody.json()["items"]) == (200, [])
    unauthorised = await crm.http.get(f"/audit/{pid}")
    assert unauthorised.status_code == 401
