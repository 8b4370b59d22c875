"""The data rules of docs/authorization.md on the real stack: four eyes on a discount's
approval, and a person moves only their own plan step or, as its department's head, one of
their department's. Each refusal is a 403 problem naming the rule and changes nothing."""

from __future__ import annotations

from typing import Any

from crm_contracts.values import Department


async def _plan(crm: Any, steps: list[dict[str, Any]], *, author: str | None = None) -> Any:
    client_id, curator = await crm.client_with_curator()
    item = await crm.catalogue_item(price=100_000)
    line = {
        "item_code": item,
        "quantity": 1,
        "discount": {"kind": "percent", "basis_points": 2_000},
    }
    headers = crm.signed_in(author, "sales") if author else crm.auth()
    created = await crm.http.post(
        "/proposals",
        json={"client_id": client_id, "title": "Offer", "lines": [line]},
        headers=headers,
    )
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    made = await crm.put(f"/proposals/{pid}/plan", 1, {"steps": steps})
    assert made.status_code == 200, made.text
    return pid, curator, made.json()["steps"], 2


async def _refused(
    crm: Any, headers: dict[str, str], step_id: str, version: int, rule: str
) -> None:
    response = await crm.post_as(headers, f"/steps/{step_id}/complete", version)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["rule"] == rule
    step = await crm.http.get(f"/steps/{step_id}", headers=crm.auth())
    assert (step.json()["state"], step.headers["ETag"]) == ("in_progress", f'"{version}"')


async def test_four_eyes_the_author_the_curator_and_an_app_may_not_approve(crm: Any) -> None:
    author = await crm.employee("Author")
    pid, curator, steps, version = await _plan(
        crm, [{"key": "ok", "title": "Approve", "approval": True}], author=author
    )
    step_id = steps[0]["id"]
    assert (await crm.post(f"/steps/{step_id}/start", version)).status_code == 200
    version += 1

    await _refused(crm, crm.signed_in(author, "discount-approver"), step_id, version, "four-eyes")
    await _refused(crm, crm.signed_in(curator, "discount-approver"), step_id, version, "four-eyes")
    await _refused(crm, crm.auth(), step_id, version, "four-eyes")  # an app never approves
    someone = await crm.employee("Salesperson")
    await _refused(crm, crm.signed_in(someone, "sales"), step_id, version, "four-eyes")

    approver = await crm.employee("Approver", department=Department.FINANCE)
    done = await crm.post_as(
        crm.signed_in(approver, "discount-approver"), f"/steps/{step_id}/complete", version
    )
    assert done.status_code == 200, done.text
    assert (done.json()["state"], done.json()["completed_by"]) == ("done", f"user-{approver}")
    proposal = await crm.http.get(f"/proposals/{pid}", headers=crm.auth())
    assert proposal.json()["approval_pending"] is False


async def test_a_step_is_moved_by_its_assignee_or_their_department_head(crm: Any) -> None:
    assignee = await crm.employee("Doer", department=Department.SERVICE)
    colleague = await crm.employee("Colleague", department=Department.SERVICE)
    head = await crm.employee("Head of service", department=Department.SERVICE)
    other_head = await crm.employee("Head of sales", department=Department.SALES)
    _, _, steps, version = await _plan(
        crm,
        [
            {"key": "a", "title": "Demo", "assignee_id": assignee},
            {"key": "b", "title": "Install", "assignee_id": assignee},
        ],
    )
    first, second = steps[0]["id"], steps[1]["id"]
    for step_id in (first, second):
        assert (await crm.post(f"/steps/{step_id}/start", version)).status_code == 200
        version += 1

    await _refused(crm, crm.signed_in(colleague, "event-staff"), first, version, "step-assignee")
    await _refused(
        crm, crm.signed_in(other_head, "department-head"), first, version, "step-assignee"
    )

    own = await crm.post_as(
        crm.signed_in(assignee, "event-staff"), f"/steps/{first}/complete", version
    )
    assert own.status_code == 200, own.text
    by_head = await crm.post_as(
        crm.signed_in(head, "department-head"), f"/steps/{second}/complete", version + 1
    )
    assert by_head.status_code == 200, by_head.text
