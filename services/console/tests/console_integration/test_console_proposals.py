"""A proposal's later life in the console: a presented proposal revised through the editor and
its revisions compared side by side; the action plan with its critical path and expected
finish; a plan generated from a published sales model, a step of it done, and the proposal
lost with its reason."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, expect

from .conftest import CONSOLE, PROPOSALS_SCOPES, Crm, accessible, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _presented(crm: Crm, title: str) -> str:
    """A proposal of 10 hours, no discount, presented to the client (through the API)."""
    proposals, sell = crm.apis["proposals"], crm.app(*PROPOSALS_SCOPES)
    made = await proposals.post(
        "/proposals",
        json={
            "client_id": crm.client_id,
            "title": title,
            "lines": [{"item_code": crm.item_code, "quantity": 10}],
        },
        headers=sell,
    )
    assert made.status_code == 201, made.text
    presented = await proposals.post(
        f"/proposals/{made.json()['id']}/status",
        json={"status": "presented"},
        headers={**sell, "If-Match": made.headers["ETag"]},
    )
    assert presented.status_code == 200, presented.text
    proposal_id: str = made.json()["id"]
    return proposal_id


async def test_a_revision_is_made_in_the_editor_and_compared_side_by_side(
    crm: Crm, browser: Browser
) -> None:
    proposal_id = await _presented(crm, "Pump audit")
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/proposals/{proposal_id}")
    await page.get_by_role("link", name="New revision").click()
    await expect(page.locator("#lines-0-quantity")).to_have_value("10")
    await page.fill("#lines-0-quantity", "14")
    await page.fill("#lines-0-unit_price", "1400")
    await expect(page.locator("#preview-total")).to_have_text("RUB19,600.00")
    await page.fill("#reason", "Two more stations")
    await page.get_by_role("button", name="Make the revision").click()
    await expect(page.get_by_text("A new revision is made.")).to_be_visible()

    await page.get_by_role("link", name="Revisions side by side").click()
    table = page.get_by_role("table", name="Lines: Revision 1 / 2")
    await expect(table).to_be_visible()
    row = table.get_by_role("row", name="Pump station service")
    # Quantity, unit price and line total changed (on both sides); the discount did not.
    await expect(row.locator("td.changed")).to_have_count(6)
    await expect(row).to_contain_text("RUB15,000.00")
    await expect(row).to_contain_text("RUB19,600.00")
    await expect(page.get_by_text("Two more stations")).to_be_visible()
    await accessible(page, "revisions")


async def test_the_plan_shows_its_critical_path_and_expected_finish(
    crm: Crm, browser: Browser
) -> None:
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/proposals/{crm.proposal_id}")
    await expect(page.locator("#critical-path")).to_contain_text("Present the offer")
    await expect(page.locator("#expected-finish")).not_to_be_empty()


async def _published_model(crm: Crm) -> tuple[str, str]:
    """A published sales model of two steps (a call, then the offer): (id, name)."""
    proposals, manage = crm.apis["proposals"], crm.app(*PROPOSALS_SCOPES)
    name = f"Utilities model {uuid.uuid4().hex[:6]}"
    made = await proposals.post(
        "/sales-models",
        json={
            "name": name,
            "steps": [
                {"step_id": "call", "title": "Call the client", "offset_days": 1},
                {
                    "step_id": "offer",
                    "title": "Send the offer",
                    "offset_days": 3,
                    "depends_on": ["call"],
                },
            ],
        },
        headers=manage,
    )
    assert made.status_code == 201, made.text
    published = await proposals.post(
        f"/sales-models/{made.json()['id']}/publish",
        json={},
        headers={**manage, "If-Match": made.headers["ETag"]},
    )
    assert published.status_code in (200, 201), published.text
    model_id: str = made.json()["id"]
    return model_id, name


async def test_a_plan_from_a_sales_model_is_worked_and_the_proposal_lost(
    crm: Crm, browser: Browser
) -> None:
    model_id, _ = await _published_model(crm)
    proposal_id = await _presented(crm, "Pump refit")
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/proposals/{proposal_id}")
    await page.select_option("#sales-model", model_id)
    await page.get_by_role("button", name="Generate the plan from the model").click()
    await expect(page.get_by_text("The plan is generated from the sales model.")).to_be_visible()
    await expect(page.locator("#critical-path")).to_have_text("Call the client → Send the offer")
    await expect(page.locator("#expected-finish")).to_contain_text(str(datetime.now(UTC).year))

    # The step's title is part of the button's name, for a screen reader's list of buttons.
    await page.get_by_role("button", name=re.compile(r"^Mark as done\W+Call the client$")).click()
    await expect(page.get_by_text("The step is done.")).to_be_visible()
    plan = await crm.apis["proposals"].get(
        f"/proposals/{proposal_id}/plan", headers=crm.app(*PROPOSALS_SCOPES)
    )
    assert [s["state"] for s in plan.json()["steps"]] == ["done", "ready"]

    # No reason: proposals refuses, and says so by the status actions.
    await page.get_by_role("button", name="Mark as lost").click()
    await expect(page.locator("#status-problem [role=alert]")).to_contain_text("reason")
    await page.fill("#loss-reason", "Chose a cheaper offer")
    await page.fill("#loss-competitor", "Pumps & Co")
    await page.get_by_role("button", name="Mark as lost").click()
    await expect(page.get_by_text("The proposal is lost.")).to_be_visible()
    proposal = await crm.apis["proposals"].get(
        f"/proposals/{proposal_id}", headers=crm.app(*PROPOSALS_SCOPES)
    )
    assert (proposal.json()["status"], proposal.json()["competitor"]) == ("lost", "Pumps & Co")
