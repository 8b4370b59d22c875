"""Sales models and action plans on the real stack: a plan generated from a published model,
the step workflow, the discount approval, and refusals that store nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from crm_contracts.envelope import Envelope
from crm_contracts.proposals import (
    PlanGenerated,
    PlanStepAssigned,
    PlanStepCompleted,
    SalesModelPublished,
)
from crm_contracts.topics import PROPOSALS
from crm_kit.sealing import opened_envelope
from crm_kit.settings import ServiceSettings
from crm_kit.testing import end_offsets, read_topic

MODEL_STEPS = [
    {"step_id": "qualify", "title": "Qualify the need", "department": "sales", "offset_days": 2},
    {
        "step_id": "demo",
        "title": "Demo",
        "department": "service",
        "offset_days": 5,
        "depends_on": ["qualify"],
    },
    {
        "step_id": "approve",
        "title": "Approve the discount",
        "department": "management",
        "offset_days": 6,
        "depends_on": ["qualify"],
        "approval": True,
    },
    {
        "step_id": "offer",
        "title": "Send the offer",
        "offset_days": 8,
        "depends_on": ["demo", "approve"],
    },
]


async def _events_of(crm: Any, since: dict[int, int], key: str, count: int) -> list[Envelope]:
    records = await read_topic(
        crm.stack.kafka_bootstrap,
        PROPOSALS,
        since=since,
        stop_when=lambda rs: sum(r.key == key.encode() for r in rs) >= count,
    )
    settings = ServiceSettings(
        mongo_uri=crm.stack.mongo_uri
    )  # sealed fields opened, as consumers do
    return [
        await opened_envelope(Envelope.from_bytes(r.value), settings)
        for r in records
        if r.key == key.encode()
    ]


async def _published_model(crm: Any) -> str:
    created = await crm.http.post(
        "/sales-models", json={"name": "Standard B2B", "steps": MODEL_STEPS}, headers=crm.auth()
    )
    assert created.status_code == 201, created.text
    model_id: str = created.json()["id"]
    published = await crm.post(f"/sales-models/{model_id}/publish", 1, {})
    assert published.status_code == 200, published.text
    assert published.json()["published_version"] == 1
    return model_id


async def _discounted_proposal(crm: Any, basis_points: int) -> tuple[str, str]:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item(price=100_000)
    line = {
        "item_code": item,
        "quantity": 1,
        "discount": {"kind": "percent", "basis_points": basis_points},
    }
    return (await crm.proposal(client_id, [line]))["id"], client_id


def _by_model_step(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["model_step_id"]: s for s in plan["steps"]}


async def test_a_plan_generated_from_a_published_model_runs_its_workflow(crm: Any) -> None:
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    model_id = await _published_model(crm)
    pid, client_id = await _discounted_proposal(crm, basis_points=2_000)
    boss = await crm.employee("Boss", department="management")
    start = date.today()

    generated = await crm.put(
        f"/proposals/{pid}/plan",
        1,
        {
            "sales_model_id": model_id,
            "starts_on": start.isoformat(),
            "assignees": {"approve": boss},
        },
    )
    assert generated.status_code == 200, generated.text
    plan = generated.json()
    steps = _by_model_step(plan)
    assert (plan["origin"], plan["sales_model_version"]) == ("sales_model", 1)
    assert {k: (s["state"], s["due_on"]) for k, s in steps.items()} == {
        "qualify": ("ready", (start + timedelta(days=2)).isoformat()),
        "demo": ("pending", (start + timedelta(days=5)).isoformat()),
        "approve": ("pending", (start + timedelta(days=6)).isoformat()),
        "offer": ("pending", (start + timedelta(days=8)).isoformat()),
    }
    assert steps["offer"]["depends_on"] == [steps["demo"]["id"], steps["approve"]["id"]]
    assert plan["progress"]["critical_path"] == [
        steps["qualify"]["id"],
        steps["approve"]["id"],
        steps["offer"]["id"],
    ]
    assert plan["progress"]["expected_finish"] == (start + timedelta(days=8)).isoformat()
    version = int(generated.headers["ETag"].strip('"'))

    # The discount (20 %) is over the threshold: no presenting before the approval is done.
    refused = await crm.post(f"/proposals/{pid}/status", version, {"status": "presented"})
    assert refused.status_code == 409
    assert "approval" in refused.json()["detail"]

    # Completing a step whose dependencies are open is refused, and nothing changes.
    # The approval is the approver's (four eyes): the boss, signed in with that role.
    approver = crm.signed_in(boss, "discount-approver", "department-head")
    early = await crm.post_as(approver, f"/steps/{steps['approve']['id']}/complete", version)
    assert early.status_code == 409
    assert steps["qualify"]["id"] in early.json()["detail"]
    unchanged = await crm.http.get(f"/steps/{steps['approve']['id']}", headers=crm.auth())
    assert (unchanged.json()["state"], unchanged.headers["ETag"]) == ("pending", f'"{version}"')

    for key in ("qualify", "approve"):
        started = await crm.post(f"/steps/{steps[key]['id']}/start", version)
        assert started.status_code == 200, started.text
        done = await crm.post_as(
            approver if key == "approve" else crm.auth(),
            f"/steps/{steps[key]['id']}/complete",
            version + 1,
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "done"
        version += 2

    after = (await crm.http.get(f"/proposals/{pid}/plan", headers=crm.auth())).json()
    states = {k: s["state"] for k, s in _by_model_step(after).items()}
    assert states == {"qualify": "done", "demo": "ready", "approve": "done", "offer": "pending"}
    assert (after["progress"]["done"], after["progress"]["total"]) == (2, 4)
    assert after["progress"]["next_steps"] == [steps["demo"]["id"]]

    presented = await crm.post(f"/proposals/{pid}/status", version, {"status": "presented"})
    assert presented.status_code == 200, presented.text

    model_events = await _events_of(crm, since, model_id, 1)
    published = model_events[0].open_as(SalesModelPublished)
    assert [s.step_id for s in published.steps] == ["qualify", "demo", "approve", "offer"]
    envelopes = await _events_of(crm, since, pid, 6)
    assert [e.event_type for e in envelopes] == [
        "ProposalRegistered",
        "PlanGenerated",
        "PlanStepAssigned",
        "PlanStepCompleted",
        "PlanStepCompleted",
        "ProposalStatusChanged",
    ]
    generated_event = envelopes[1].open_as(PlanGenerated)
    assert (generated_event.sales_model_id, generated_event.client_id) == (model_id, client_id)
    assigned = envelopes[2].open_as(PlanStepAssigned)
    assert (assigned.assignee_id, assigned.step_id, assigned.approval, assigned.client_name) == (
        boss,
        steps["approve"]["id"],
        True,
        "Acme",
    )
    completed = [e.open_as(PlanStepCompleted) for e in envelopes[3:5]]
    assert [(c.model_step_id, c.outcome) for c in completed] == [
        ("qualify", "done"),
        ("approve", "done"),
    ]
    assert all(c.started_at is not None for c in completed)


async def test_a_manual_plan_with_a_dependency_cycle_is_refused_and_no_plan_is_stored(
    crm: Any,
) -> None:
    pid, _ = await _discounted_proposal(crm, basis_points=0)
    refused = await crm.put(
        f"/proposals/{pid}/plan",
        1,
        {
            "steps": [
                {"key": "a", "title": "A", "depends_on": ["b"]},
                {"key": "b", "title": "B", "depends_on": ["a"]},
            ]
        },
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "body.steps[0].depends_on"
    assert "cycle" in refused.json()["detail"]
    proposal = (await crm.http.get(f"/proposals/{pid}", headers=crm.auth())).json()
    assert (proposal["has_plan"], proposal["version"]) == (False, 1)


async def test_a_manual_plan_takes_steps_added_by_hand_and_refuses_skipping_required_ones(
    crm: Any,
) -> None:
    pid, _ = await _discounted_proposal(crm, basis_points=0)
    made = await crm.put(
        f"/proposals/{pid}/plan",
        1,
        {
            "steps": [
                {"key": "call", "title": "Call"},
                {"key": "visit", "title": "Visit", "depends_on": ["call"], "required": False},
            ]
        },
    )
    assert made.status_code == 200, made.text
    call, visit = made.json()["steps"]
    added = await crm.post(
        f"/proposals/{pid}/plan/steps", 2, {"title": "Follow up", "depends_on": [visit["id"]]}
    )
    assert added.status_code == 201, added.text
    assert added.json()["state"] == "pending"
    refused = await crm.post(f"/steps/{call['id']}/skip", 3)
    assert refused.status_code == 409
    skipped = await crm.post(f"/steps/{visit['id']}/skip", 3)
    assert skipped.status_code == 200, skipped.text
    plan = (await crm.http.get(f"/proposals/{pid}/plan", headers=crm.auth())).json()
    assert [s["state"] for s in plan["steps"]] == ["ready", "skipped", "ready"]


async def test_a_plan_from_a_model_that_was_never_published_is_refused(crm: Any) -> None:
    created = await crm.http.post(
        "/sales-models", json={"name": "Draft", "steps": MODEL_STEPS}, headers=crm.auth()
    )
    pid, _ = await _discounted_proposal(crm, basis_points=0)
    refused = await crm.put(f"/proposals/{pid}/plan", 1, {"sales_model_id": created.json()["id"]})
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "body.sales_model_id"


async def test_a_revision_raising_the_discount_again_needs_a_new_approval(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator()
    item = await crm.catalogue_item(price=100_000)

    def line(basis_points: int) -> dict[str, Any]:
        discount = {"kind": "percent", "basis_points": basis_points}
        return {"item_code": item, "quantity": 1, "discount": discount}

    async def read() -> dict[str, Any]:
        got = await crm.http.get(f"/proposals/{pid}", headers=crm.auth("proposals:read"))
        body: dict[str, Any] = got.json()
        return body

    approver = crm.signed_in(await crm.employee("Approver"), "discount-approver")

    async def approve(step_id: str, version: int) -> None:
        assert (await crm.post(f"/steps/{step_id}/start", version)).status_code == 200
        done = await crm.post_as(approver, f"/steps/{step_id}/complete", version + 1)
        assert done.status_code == 200, done.text

    pid = (await crm.proposal(client_id, [line(2_000)]))["id"]
    made = await crm.put(
        f"/proposals/{pid}/plan",
        1,
        {"steps": [{"key": "ok", "title": "Approve the discount", "approval": True}]},
    )
    assert made.status_code == 200, made.text
    assert (await read())["approval_pending"] is True
    await approve(made.json()["steps"][0]["id"], 2)
    approved = await read()
    assert (approved["needs_approval"], approved["approval_pending"]) == (True, False)
    assert (
        await crm.post(f"/proposals/{pid}/status", 4, {"status": "presented"})
    ).status_code == 200

    # A revision that leaves the approved line as it was stays approved...
    renamed = await crm.post(
        f"/proposals/{pid}/revisions", 5, {"title": "Offer, renamed", "lines": [line(2_000)]}
    )
    assert renamed.status_code == 201, renamed.text
    assert renamed.json()["approval_pending"] is False
    # ...one raising the discount again does not: it cannot be presented or won until approved.
    raised = await crm.post(f"/proposals/{pid}/revisions", 6, {"lines": [line(3_000)]})
    assert raised.status_code == 201, raised.text
    assert (raised.json()["revision"]["revision"], raised.json()["approval_pending"]) == (3, True)
    negotiating = await crm.post(f"/proposals/{pid}/status", 7, {"status": "negotiation"})
    assert negotiating.status_code == 200, negotiating.text
    refused = await crm.post(f"/proposals/{pid}/status", 8, {"status": "presented"})
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert "approval" in refused.json()["detail"]
    assert refused.json()["errors"][0]["field"] == "body.status"
    not_won = await crm.post(f"/proposals/{pid}/win", 8)
    assert not_won.status_code == 409
    assert ((await read())["status"], (await read())["version"]) == ("negotiation", 8)

    # A new approval step, added by hand and done, approves the new terms.
    added = await crm.post(
        f"/proposals/{pid}/plan/steps", 8, {"title": "Approve 30 %", "approval": True}
    )
    assert added.status_code == 201, added.text
    await approve(added.json()["id"], 9)
    assert (await read())["approval_pending"] is False
    again = await crm.post(f"/proposals/{pid}/status", 11, {"status": "presented"})
    assert again.status_code == 200, again.text


async def test_a_persons_open_steps_across_proposals_come_overdue_first_and_done_ones_not_at_all(
    crm: Any,
) -> None:
    me, colleague = await crm.employee("Stepan"), await crm.employee("Vera")
    today = date.today()
    first, _ = await _discounted_proposal(crm, basis_points=0)
    made = await crm.put(
        f"/proposals/{first}/plan",
        1,
        {
            "steps": [
                {"key": "call", "title": "Call", "assignee_id": me, "due_on": str(today)},
                {
                    "key": "visit",
                    "title": "Visit",
                    "assignee_id": me,
                    "due_on": str(today + timedelta(days=5)),
                    "depends_on": ["call"],
                },
                {"key": "quote", "title": "Quote", "assignee_id": colleague},
            ]
        },
    )
    assert made.status_code == 200, made.text
    second, _ = await _discounted_proposal(crm, basis_points=0)
    made = await crm.put(
        f"/proposals/{second}/plan",
        1,
        {
            "steps": [
                {"key": "brief", "title": "Brief", "assignee_id": me},
                {"key": "late", "title": "Late", "assignee_id": me, "due_on": "2020-01-10"},
                {"key": "done", "title": "Done already", "assignee_id": me},
            ]
        },
    )
    assert made.status_code == 200, made.text
    done = next(s for s in made.json()["steps"] if s["title"] == "Done already")
    started = await crm.post(f"/steps/{done['id']}/start", 2)
    assert started.status_code == 200, started.text
    finished = await crm.post(f"/steps/{done['id']}/complete", 3)
    assert finished.status_code == 200, finished.text

    listed = await crm.http.get("/steps", params={"assignee_id": me}, headers=crm.auth())

    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["truncated"] is False
    assert [(s["title"], s["overdue"]) for s in body["items"]] == [
        ("Late", True),
        ("Call", False),
        ("Visit", False),
        ("Brief", False),
    ]
    late = body["items"][0]
    assert (late["proposal_id"], late["proposal_title"], late["assignee_id"]) == (
        second,
        "Offer",
        me,
    )
    assert [
        s["title"]
        for s in (
            await crm.http.get("/steps", params={"assignee_id": colleague}, headers=crm.auth())
        ).json()["items"]
    ] == ["Quote"]


async def test_listing_steps_without_saying_whose_is_refused_naming_the_parameter(
    crm: Any,
) -> None:
    refused = await crm.http.get("/steps", headers=crm.auth())
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["query.assignee_id"]
