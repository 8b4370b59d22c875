"""The whole cycle through the console, as three people signed in at the real provider: a
marketer schedules an event of a programme, invites the programme's portrait and follows the
invitation run, and checks a guest in; a salesperson records a contact with the client, writes a
proposal with a discount (the totals follow the typing; the service's refusal shows next to the
field it names), submits the discount for approval, sees no approve button and cannot post one;
an approver approves it; the salesperson presents and wins it. Every screen passes axe-core."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .conftest import (
    CAMPAIGNS_SCOPES,
    CONSOLE,
    CONTACTS_SCOPES,
    PROPOSALS_SCOPES,
    Crm,
    accessible,
    csrf_of,
    signed_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]


async def _participants(crm: Crm, event_id: str) -> list[dict[str, Any]]:
    answer = await crm.apis["campaigns"].get(
        f"/events/{event_id}/participants", headers=crm.app(*CAMPAIGNS_SCOPES)
    )
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


async def _proposal(crm: Crm, proposal_id: str) -> dict[str, Any]:
    answer = await crm.apis["proposals"].get(
        f"/proposals/{proposal_id}", headers=crm.app(*PROPOSALS_SCOPES)
    )
    assert answer.status_code == 200, answer.text
    proposal: dict[str, Any] = answer.json()
    return proposal


def _proposal_id(page: Page) -> str:
    found = re.search(r"/proposals/([^/?#]+)$", page.url)
    assert found, page.url
    return found.group(1)


async def _marketer_runs_the_event(crm: Crm, browser: Browser) -> str:
    page = await signed_in(browser, "omarkova")
    await page.goto(f"{CONSOLE}/events")
    await page.get_by_role("link", name="Запланировать мероприятие").click()
    await expect(page.get_by_role("heading", name="Запланировать мероприятие")).to_be_visible()
    await accessible(page, "event-new")
    starts = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%d")
    await page.select_option("#kind", "seminar")
    await page.select_option("#programme_id", crm.programme_id)
    await page.fill("#title", "Pump day <for> utilities")
    await page.fill("#place-venue", "Expo hall 5")
    await page.fill("#starts_at", f"{starts}T10:00")
    await page.fill("#ends_at", f"{starts}T09:00")
    await page.fill("#capacity", "40")
    await page.get_by_role("button", name="Запланировать", exact=True).click()
    # The service refuses an end before the start: the message stands next to the field.
    await expect(
        page.locator("#ends_at[aria-invalid=true], #starts_at[aria-invalid=true]")
    ).to_have_count(1)
    await expect(page.locator(".field-error")).to_have_count(1)
    await page.fill("#ends_at", f"{starts}T14:00")
    await page.get_by_role("button", name="Запланировать", exact=True).click()
    await expect(page.get_by_text("Мероприятие запланировано.")).to_be_visible()
    # What the page shows is escaped: the title's brackets are text, not markup.
    await expect(page.get_by_role("heading", name="Pump day <for> utilities")).to_be_visible()
    event_id = page.url.rsplit("/", 1)[-1]

    await page.get_by_role("button", name="Добавить людей по портрету программы").click()
    await expect(page.get_by_text("Добавлено по портрету: 1")).to_be_visible()
    await page.get_by_role("button", name="Пригласить ещё не приглашённых").click()
    run = page.locator("#invitation-run")
    await expect(run).to_be_visible()
    # HTMX follows the run until campaigns has worked through it.
    await expect(run).to_contain_text("завершена", timeout=60_000)
    await expect(run).to_contain_text("1 / 1")
    await accessible(page, "event-invitations")

    guest = (await _participants(crm, event_id))[0]
    assert guest["status"] in ("invited", "delivered", "failed"), guest
    await page.fill("#code", guest["check_in_code"])
    await page.get_by_role("button", name="Отметить приход").click()
    await expect(page.locator("#check-in-result")).to_contain_text("Anna Petrova: отмечен(а)")
    assert (await _participants(crm, event_id))[0]["status"] == "attended"
    await page.context.close()
    return event_id


async def _seller_records_a_contact(crm: Crm, page: Page, event_id: str) -> None:
    await page.goto(f"{CONSOLE}/clients/{crm.client_id}")
    await page.get_by_role("link", name="Record a contact").click()
    await accessible(page, "contact-new")
    await page.select_option("#person_id", label="Anna Petrova, Chief engineer")
    await page.select_option("#kind", "call")
    await page.fill("#need_item_codes", crm.item_code)
    await page.select_option("#event_id", event_id)
    await page.get_by_role("button", name="Record the contact").click()
    # No summary: contacts says what is missing, next to the field.
    await expect(page.locator("#summary[aria-invalid=true]")).to_be_visible()
    await expect(page.locator("#err-summary")).not_to_be_empty()
    await page.fill("#summary", "Asked for a service contract for two pump stations")
    await page.get_by_role("button", name="Record the contact").click()
    await expect(page.get_by_text("The contact is recorded.")).to_be_visible()
    found = await crm.apis["contacts"].get(
        "/contacts", params={"client_id": crm.client_id}, headers=crm.app(*CONTACTS_SCOPES)
    )
    recorded = [c for c in found.json()["items"] if c["summary"].startswith("Asked for")]
    assert [(c["kind"], c["event_id"], c["need_item_codes"]) for c in recorded] == [
        ("call", event_id, [crm.item_code.upper()])  # contacts keeps codes in capitals
    ]


async def _seller_writes_a_proposal(crm: Crm, page: Page) -> str:
    await page.goto(f"{CONSOLE}/clients/{crm.client_id}")
    await page.get_by_role("link", name="New proposal").click()
    await expect(page.get_by_role("heading", name=re.compile("New proposal"))).to_be_visible()
    await page.fill("#title", "Pump station upkeep")
    await page.select_option("#lines-0-item_code", crm.item_code)
    await page.fill("#lines-0-quantity", "10")
    # The totals follow the typing: 10 hours at 1,500.00.
    await expect(page.locator("#preview-total")).to_have_text("RUB15,000.00")
    await page.fill("#lines-0-discount", "150")
    await expect(page.locator("#preview-total")).to_have_text("RUB15,000.00")
    await page.select_option("#participants-0-who", label="Anna Petrova, Chief engineer")
    await page.fill("#participants-0-role", "decision_maker")
    await page.select_option("#participants-1-who", label="mseller")
    await page.fill("#participants-1-role", "account_manager")
    valid = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    await page.fill("#valid_until", valid)
    await page.get_by_role("button", name="Register the proposal").click()
    # Proposals refuses a discount over 100 %: its words stand next to the discount.
    discount = page.locator("#lines-0-discount")
    await expect(discount).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#err-lines-0-discount")).to_contain_text("100 %")
    await accessible(page, "proposal-editor")
    await page.fill("#lines-0-discount", "20")
    await expect(page.locator("#preview-discount")).to_have_text("RUB3,000.00")
    await expect(page.locator("#preview-total")).to_have_text("RUB12,000.00")
    await page.get_by_role("button", name="Register the proposal").click()
    await expect(page.get_by_text("The proposal is registered.")).to_be_visible()
    proposal_id = _proposal_id(page)
    proposal = await _proposal(crm, proposal_id)
    assert proposal["revision"]["totals"]["total"]["amount_minor"] == 12_000_00
    assert {p["side"] for p in proposal["revision"]["participants"]} == {"client", "company"}
    assert proposal["revision"]["valid_until"] == valid
    return proposal_id


async def _seller_cannot_approve(crm: Crm, page: Page, proposal_id: str) -> None:
    await expect(page.get_by_text("The discount needs an approval.")).to_be_visible()
    # Presenting before the approval: proposals refuses, the page says why.
    await page.get_by_role("button", name="Present to the client").click()
    await expect(page.locator("#status-problem [role=alert]")).to_contain_text("approval")
    await page.get_by_role("button", name="Submit for approval").click()
    await expect(page.get_by_text("The discount is submitted for approval.")).to_be_visible()
    await expect(page.get_by_text("It is submitted for approval.")).to_be_visible()
    await expect(page.get_by_role("button", name="Approve the discount")).to_have_count(0)
    await accessible(page, "proposal-submitted")
    plan = await crm.apis["proposals"].get(
        f"/proposals/{proposal_id}/plan", headers=crm.app(*PROPOSALS_SCOPES)
    )
    step = next(s for s in plan.json()["steps"] if s["approval"])
    refused = await page.request.post(
        f"{CONSOLE}/proposals/{proposal_id}/steps/{step['id']}/approve",
        form={"csrf_token": await csrf_of(page)},
        max_redirects=0,
    )
    assert refused.status == 403
    assert (await _proposal(crm, proposal_id))["approval_pending"] is True


async def _approver_approves(crm: Crm, browser: Browser, proposal_id: str) -> None:
    page = await signed_in(browser, "ffinansov")
    await page.goto(f"{CONSOLE}/proposals/{proposal_id}")
    await page.get_by_role("button", name="Согласовать скидку").click()
    await expect(page.get_by_text("Скидка согласована.")).to_be_visible()
    # An approver is no salesperson: the page offers no status moves.
    await expect(page.get_by_role("button", name="Отметить как выигранное")).to_have_count(0)
    await page.context.close()
    assert (await _proposal(crm, proposal_id))["approval_pending"] is False


async def test_three_people_run_the_whole_cycle_through_the_console(
    crm: Crm, browser: Browser
) -> None:
    event_id = await _marketer_runs_the_event(crm, browser)

    seller = await signed_in(browser, "mseller")
    await _seller_records_a_contact(crm, seller, event_id)
    proposal_id = await _seller_writes_a_proposal(crm, seller)
    await _seller_cannot_approve(crm, seller, proposal_id)

    await _approver_approves(crm, browser, proposal_id)

    await seller.goto(f"{CONSOLE}/proposals/{proposal_id}")
    await seller.get_by_role("button", name="Present to the client").click()
    await expect(seller.get_by_text("The proposal is presented.")).to_be_visible()
    await seller.get_by_role("button", name="Mark as won").click()
    await expect(seller.get_by_text("The proposal is won.")).to_be_visible()
    await accessible(seller, "proposal-won")
    assert (await _proposal(crm, proposal_id))["status"] == "won"
