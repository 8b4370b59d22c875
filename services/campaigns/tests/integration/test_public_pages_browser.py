"""The public pages in a real browser: Debian's headless Chromium driven by Playwright, against
the app served by uvicorn over a real socket (the broker and store are the real stack)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn
from crm_contracts.campaigns import InvitationRequested, QuestionnaireSubmitted
from crm_kit.testing import StackEndpoints, eventually
from playwright.async_api import Browser, Page, async_playwright

from .bus import our_facts
from .conftest import Campaigns, topic_end
from .test_invitations import seed_people
from .test_plan_schedule import schedule

CHROMIUM = "/usr/bin/chromium"
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "user_agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/156.0 Mobile Safari/537.36",
}


@contextlib.asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    """The app (its lifespan already running) behind uvicorn on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: server.started, within=30, what="uvicorn to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Debian's Chromium is missing at {CHROMIUM}: the browser tests need it "
            "(deploy/local/bootstrap.sh installs it with apt-get install chromium)"
        )
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def site(campaigns: Campaigns) -> AsyncIterator[str]:
    async with served(campaigns.app) as base:
        yield base


async def invited(
    stack: StackEndpoints, c: Campaigns, count: int
) -> tuple[str, list[InvitationRequested]]:
    """An event with ``count`` invited guests and their invitations as published."""
    tag = f"web{uuid.uuid4().hex[:8]}"
    await seed_people(c, count, tag)
    programme = await c.http.post(
        "/programmes",
        json={"name": "Web", "portrait": {"tags": [tag]}, "starts_on": "2026-01-01",
              "ends_on": "2032-12-31"},
        headers=c.write(),
    )  # fmt: skip
    event = await schedule(c, programme_id=programme.json()["id"])
    eid = event["id"]
    added = await c.http.post(f"/events/{eid}/participants/by-portrait", json={}, headers=c.write())
    assert added.json()["added"] == count
    since = await topic_end(c, stack)
    run = await c.http.post(f"/events/{eid}/invitations", json={}, headers=c.write())
    assert run.status_code == 202, run.text
    envelopes = await our_facts(
        stack,
        since,
        eid,
        until=lambda es: sum(e.event_type == "InvitationRequested" for e in es) >= count,
    )
    invitations = [
        e.open_as(InvitationRequested) for e in envelopes if e.event_type == "InvitationRequested"
    ]
    return eid, invitations


def csp_violations(page: Page) -> list[str]:
    """What the page reports from now on as refused by its Content-Security-Policy (a style,
    a script, a form target); Chromium logs each as a console error."""
    errors: list[str] = []
    page.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    return errors


async def styled_by_the_stylesheet(page: Page) -> bool:
    """The inlined stylesheet applied (the policy allowed it by its hash)."""
    background: str = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    return background == "rgb(244, 245, 247)"


async def no_horizontal_scroll(page: Page) -> bool:
    fits: bool = await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return fits


async def test_an_invitation_is_accepted_in_the_browser_and_a_second_answer_changes_nothing(
    stack: StackEndpoints, campaigns: Campaigns, site: str, browser: Browser
) -> None:
    c = campaigns
    eid, invitations = await invited(stack, c, 1)
    (invitation,) = invitations
    url = f"{site}/i/{invitation.answer_token}"

    context = await browser.new_context()
    first, second = await context.new_page(), await context.new_page()
    errors = csp_violations(first) + csp_violations(second)
    for page in (first, second):
        opened = await page.goto(url)
        assert opened is not None
        assert opened.status == 200
        assert "default-src 'none'" in opened.headers["content-security-policy"]
        assert await styled_by_the_stylesheet(page)
        assert await page.locator("h1").inner_text() == "Pumps for water utilities"
        assert invitation.check_in_code in await page.locator("dl").inner_text()

    since = await topic_end(c, stack)
    await first.get_by_role("button", name="Yes, I will come").click()
    await first.wait_for_selector("#answer")
    assert "you accepted the invitation" in await first.locator("#answer").inner_text()
    assert await first.get_by_role("button", name="No, I cannot come").count() == 0

    # The second tab still shows the form: declining there now changes nothing.
    await second.get_by_role("button", name="No, I cannot come").click()
    await second.wait_for_selector("#answer")
    assert "you accepted the invitation" in await second.locator("#answer").inner_text()
    await second.reload()
    assert "you accepted the invitation" in await second.locator("#answer").inner_text()
    assert await styled_by_the_stylesheet(second)
    await context.close()
    assert errors == []

    participant = await c.http.get(
        f"/events/{eid}/participants/{invitation.participant_id}", headers=c.read()
    )
    assert participant.json()["status"] == "accepted"
    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert (figures["accepted"], figures["declined"]) == (1, 0)
    envelopes = await our_facts(
        stack, since, eid, until=lambda es: any(e.event_type == "InvitationAnswered" for e in es)
    )
    assert [e.event_type for e in envelopes] == ["InvitationAnswered"]


async def test_forged_and_expired_links_show_a_clear_page_in_the_browser(
    campaigns: Campaigns, site: str, browser: Browser
) -> None:
    from crm_campaigns.links import LinkPurpose, LinkSigner

    expired = LinkSigner(campaigns.runtime.settings.link_secret).sign(
        LinkPurpose.ANSWER,
        event_id="e",
        participant_id="p",
        now=datetime.now(UTC) - timedelta(days=10),
        ttl=timedelta(days=1),
    )
    page = await browser.new_page()
    cases = [
        (f"/i/{expired}", 410, "This link has expired"),
        ("/i/not-a-token", 404, "This link is not valid"),
        (f"/i/{expired[:-3]}abc", 404, "This link is not valid"),
        ("/q/forged.token", 404, "This link is not valid"),
    ]
    for path, status, heading in cases:
        response = await page.goto(f"{site}{path}")
        assert response is not None
        assert response.status == status
        assert await page.locator("h1").inner_text() == heading
        body = await page.locator("body").inner_text()
        assert "Traceback" not in body
        assert "Please" in body
    await page.close()


async def test_the_questionnaire_is_filled_in_on_a_phone(
    stack: StackEndpoints, campaigns: Campaigns, site: str, browser: Browser
) -> None:
    c = campaigns
    event = await schedule(c)
    eid = event["id"]
    defined = await c.http.put(
        f"/events/{eid}/questionnaire",
        json={
            "title": "Your opinion",
            "questions": [
                {"question_id": "format", "text": "Which format suits you?",
                 "kind": "single_choice", "options": ["Seminar", "Webinar"], "required": True},
                {"question_id": "topics", "text": "Topics", "kind": "multiple_choice",
                 "options": ["Pumps", "Valves", "Service"]},
                {"question_id": "rating", "text": "How was it?", "kind": "scale"},
                {"question_id": "remarks", "text": "Anything else?", "kind": "free_text"},
                {"question_id": "who", "text": "Your details", "kind": "contact_details"},
            ],
        },
        headers=c.write(0),
    )  # fmt: skip
    assert defined.status_code == 200, defined.text
    link = defined.json()["anonymous_link"]

    context = await browser.new_context(**PHONE)
    page = await context.new_page()
    errors = csp_violations(page)
    opened = await page.goto(f"{site}{link}")
    assert opened is not None
    assert opened.status == 200
    assert await styled_by_the_stylesheet(page)
    assert await no_horizontal_scroll(page)

    # Sent without the required answer: the page says so and keeps the form.
    await page.get_by_role("button", name="Send").tap()
    await page.wait_for_selector("[role=alert]")
    assert "must be answered" in await page.locator("[role=alert]").inner_text()

    since = await topic_end(c, stack)
    await page.get_by_label("Webinar", exact=True).tap()
    await page.get_by_label("Pumps", exact=True).tap()
    await page.get_by_label("Service", exact=True).tap()
    await page.get_by_label("4", exact=True).tap()
    await page.locator("textarea[name=q_remarks]").fill("More about service contracts")
    await page.get_by_label("Name", exact=True).fill("Olga Petrova")
    await page.get_by_label("Organisation", exact=True).fill("Vodokanal")
    await page.get_by_label("E-mail", exact=True).fill("Olga@Vodokanal.example")
    await page.get_by_label("You may contact me by e-mail", exact=True).tap()
    assert await no_horizontal_scroll(page)
    await page.get_by_role("button", name="Send").tap()
    await page.wait_for_selector("text=Thank you for your answers.")
    await context.close()
    assert errors == []  # the policy refused nothing the pages use

    envelopes = await our_facts(
        stack,
        since,
        eid,
        until=lambda es: any(e.event_type == "QuestionnaireSubmitted" for e in es),
    )
    (submitted,) = [
        e.open_as(QuestionnaireSubmitted)
        for e in envelopes
        if e.event_type == "QuestionnaireSubmitted"
    ]
    assert submitted.channel.value == "electronic"
    assert submitted.participant_id is None
    assert submitted.respondent.name == "Olga Petrova"
    assert submitted.respondent.organisation == "Vodokanal"
    assert submitted.respondent.channels.email == "olga@vodokanal.example"
    assert [c.value for c in submitted.respondent.consented_channels] == ["email"]
    answers = {a.question_id: a for a in submitted.answers}
    assert answers["format"].choices == ("Webinar",)
    assert answers["topics"].choices == ("Pumps", "Service")
    assert answers["rating"].scale == 4
    assert answers["remarks"].text == "More about service contracts"


async def test_the_market_needs_page_draws_its_bars_under_the_policy(
    campaigns: Campaigns, site: str, browser: Browser
) -> None:
    from crm_campaigns.repository.needs import Needs, need_docs

    for i, codes in enumerate([["PUMP-1", "VALVE-2"], ["PUMP-1"], ["PUMP-1"]]):
        await Needs(campaigns.runtime).insert(
            need_docs(source="questionnaire", source_id=f"r{i}", item_codes=codes,
                      event_id="e1", programme_id=None, client_id=f"c{i}", person_id=None,
                      field_of_activity="36.00", at=datetime.now(UTC))
        )  # fmt: skip
    context = await browser.new_context(extra_http_headers=campaigns.read())
    page = await context.new_page()
    errors = csp_violations(page)
    opened = await page.goto(f"{site}/reports/market-needs?format=html")
    assert opened is not None
    assert opened.status == 200
    assert await styled_by_the_stylesheet(page)
    widths = await page.locator("svg.bar rect").evaluate_all(
        "rects => rects.map(r => Math.round(r.getBoundingClientRect().width * 100 / "
        "r.ownerSVGElement.getBoundingClientRect().width))"
    )
    assert widths == [75, 25]
    await context.close()
    assert errors == []


async def test_the_api_documents_run_their_own_inline_scripts_under_their_policy(
    site: str, browser: Browser
) -> None:
    # Their scripts and styles come from the CDN, which this machine may not reach: what is
    # checked is that the policy refuses none of the page's own inline code.
    for path in ("/docs", "/redoc"):
        page = await browser.new_page()
        violations = csp_violations(page)
        opened = await page.goto(f"{site}{path}")
        assert opened is not None
        assert "frame-ancestors 'none'" in opened.headers["content-security-policy"]
        await page.wait_for_load_state("load")
        await page.close()
        assert violations == [], path
