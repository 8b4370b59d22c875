"""The console in a real browser, as three people signed in at the real provider: a
salesperson finds their client and cannot approve a discount (no button, and a POST of the
approval with their session is refused); an approver approves it; a POST without its CSRF token
is refused; and every page passes axe-core with no serious or critical violation and no
refusal by its Content-Security-Policy."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from .conftest import CONSOLE, PROPOSALS_SCOPES, Crm, accessible, csrf_of, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _step(crm: Crm, step_id: str = "") -> dict[str, Any]:
    answer = await crm.apis["proposals"].get(
        f"/steps/{step_id or crm.approval_step_id}", headers=crm.app(*PROPOSALS_SCOPES)
    )
    assert answer.status_code == 200, answer.text
    step: dict[str, Any] = answer.json()
    return step


async def test_a_salesperson_finds_their_client_and_cannot_approve_the_discount(
    crm: Crm, browser: Browser
) -> None:
    page = await signed_in(browser, "mseller")
    # My work: their client as curator, and their overdue plan step first.
    await expect(page.get_by_role("heading", name="My work")).to_be_visible()
    mine = page.get_by_role("region", name="My clients")
    await expect(mine.get_by_role("link", name=crm.client_name)).to_be_visible()
    steps = page.get_by_role("region", name="My plan steps")
    first = steps.get_by_role("row").nth(1)  # after the header row
    await expect(first).to_contain_text("Present the offer")
    await expect(first).to_contain_text("Overdue")
    # The unassigned approval step is not theirs: they may not give it.
    await expect(steps.get_by_text("Approve the discount")).to_have_count(0)

    await page.goto(f"{CONSOLE}/clients")
    # Results follow the typing (HTMX, under the policy): no Enter, no page load.
    await page.fill("#q", crm.client_name)
    await expect(page.locator("#results").get_by_role("link", name=crm.client_name)).to_be_visible()
    await expect(page).to_have_url(re.compile(r"/clients\?q=Vodokanal"))
    await page.locator("#results").get_by_role("link", name=crm.client_name).click()
    await expect(page.get_by_role("heading", name=crm.client_name, level=1)).to_be_visible()
    await expect(page.get_by_role("cell", name="Anna Petrova", exact=True)).to_be_visible()
    await expect(page.get_by_text("email: granted")).to_be_visible()
    # Every panel answered, notify's messages too: no refusal or failure on the card.
    await expect(page.get_by_role("heading", name="Messages sent")).to_be_visible()
    await expect(page.get_by_role("alert")).to_have_count(0)

    await page.get_by_role("link", name="Service contract").first.click()
    await expect(page.get_by_text("The discount needs an approval.")).to_be_visible()
    await expect(page.get_by_role("button", name="Approve the discount")).to_have_count(0)

    refused = await page.request.post(
        f"{CONSOLE}/proposals/{crm.proposal_id}/steps/{crm.approval_step_id}/approve",
        form={"csrf_token": await csrf_of(page)},
        max_redirects=0,
    )
    assert refused.status == 403
    assert "discount-approver" in await refused.text()
    assert (await _step(crm))["state"] == "ready"


async def test_a_post_without_its_csrf_token_is_refused(crm: Crm, browser: Browser) -> None:
    page = await signed_in(browser, "mseller")
    refused = await page.request.post(
        f"{CONSOLE}/settings/language", form={"language": "ru"}, max_redirects=0
    )
    assert refused.status == 403
    forged = await page.request.post(
        f"{CONSOLE}/settings/language",
        form={"language": "ru", "csrf_token": "not-the-token"},
        max_redirects=0,
    )
    assert forged.status == 403
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "en")


async def test_an_approver_approves_the_discount(crm: Crm, browser: Browser) -> None:
    page = await signed_in(browser, "ffinansov")
    await expect(page.locator("html")).to_have_attribute("lang", "ru")
    # My work lists the discounts waiting for an approval; the proposal opens from there.
    waiting = page.get_by_role("region", name="Скидки, ожидающие согласования")
    await waiting.get_by_role("link", name="Service contract").click()
    await expect(page).to_have_url(f"{CONSOLE}/proposals/{crm.proposal_id}")
    await page.get_by_role("button", name="Согласовать скидку").click()
    await expect(page.get_by_text("Скидка согласована.")).to_be_visible()
    assert (await _step(crm))["state"] == "done"
    proposal = await crm.apis["proposals"].get(
        f"/proposals/{crm.proposal_id}", headers=crm.app(*PROPOSALS_SCOPES)
    )
    assert proposal.json()["approval_pending"] is False


def _csp_refusals(page: Page) -> list[str]:
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


async def test_every_page_is_accessible_and_runs_under_its_policy(
    crm: Crm, browser: Browser
) -> None:
    for username, pages in {
        "mseller": {
            "work": "/",
            "clients": f"/clients?q={crm.client_name}",
            "client": f"/clients/{crm.client_id}",
            "proposals": "/proposals",
            "proposal": f"/proposals/{crm.proposal_id}",
        },
        "omarkova": {"events": "/events", "event": f"/events/{crm.event_id}"},
    }.items():
        page = await signed_in(browser, username)
        refusals = _csp_refusals(page)
        for name, path in pages.items():
            response = await page.goto(f"{CONSOLE}{path}")
            assert response is not None, path
            assert response.status == 200, (path, response.status)
            await accessible(page, name)
        assert refusals == [], refusals
        await page.context.close()


async def test_a_wrong_check_in_code_is_shown_as_a_readable_message(
    crm: Crm, browser: Browser
) -> None:
    page = await signed_in(browser, "omarkova")
    await page.goto(f"{CONSOLE}/events/{crm.event_id}")
    await page.fill("#code", "NO-SUCH-CODE")
    await page.get_by_role("button", name="Отметить приход").click()
    await expect(page.locator("#check-in-result [role=alert]")).to_be_visible()
    assert "500" not in await page.locator("#check-in-result").inner_text()


async def test_the_event_desk_checks_a_guest_in_by_code(crm: Crm, browser: Browser) -> None:
    page = await signed_in(browser, "omarkova")
    await page.goto(f"{CONSOLE}/events/{crm.event_id}")
    await expect(page.get_by_role("heading", name="запланирован (1)")).to_be_visible()
    await page.fill("#code", crm.check_in_code.lower())
    await page.get_by_role("button", name="Отметить приход").click()
    await expect(page.locator("#check-in-result")).to_contain_text("Anna Petrova: отмечен(а)")
    await page.reload()
    await expect(page.get_by_role("heading", name="пришёл (1)")).to_be_visible()


async def test_four_eyes_refusal_is_shown_to_an_approver_who_wrote_the_proposal(
    crm: Crm, browser: Browser
) -> None:
    page = await signed_in(browser, "vdirektorov")
    await page.goto(f"{CONSOLE}/proposals/{crm.own_proposal_id}")
    await page.get_by_role("button", name="Согласовать скидку").click()
    alert = page.get_by_role("alert")
    await expect(page.get_by_role("heading", name="В согласовании отказано")).to_be_visible()
    await expect(alert).to_contain_text("four-eyes")
    await expect(alert).to_contain_text("не составлял предложение и не курирует клиента")
    assert (await _step(crm, crm.own_step_id))["state"] != "done"
