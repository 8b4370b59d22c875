"""Programmes through the console: a marketer defines a programme with its target portrait (the
service's refusal stands next to the field it names) and redefines it; a salesperson reads the
list but is offered no way to define one, and a posted one is refused. The plan-schedule shows a
week day by day, a week at a time; an event's page its questionnaire and effectiveness."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, expect

from .conftest import CAMPAIGNS_SCOPES, CONSOLE, Crm, accessible, csrf_of, new_event, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def test_a_marketer_defines_a_programme_with_its_target_portrait(
    crm: Crm, browser: Browser
) -> None:
    page = await signed_in(browser, "omarkova")
    await page.goto(f"{CONSOLE}/events")
    await page.get_by_role("link", name="Программы", exact=True).click()
    await page.get_by_role("link", name="Создать программу").click()
    await page.fill("#name", "Boilers <b>north</b>")
    await page.fill("#starts_on", "2027-03-01")
    await page.fill("#ends_on", "2027-01-31")
    await page.fill("#budget", "1 500,50")
    await page.get_by_label("действующий").check()
    await page.get_by_label("крупный").check()
    await page.fill("#portrait-regions", "Tver, Pskov")
    await page.get_by_role("button", name="Сохранить программу").click()
    # Campaigns refuses an end before the start: its words stand next to the end.
    await expect(page.locator("#ends_on[aria-invalid=true]")).to_have_count(1)
    await expect(page.get_by_label("действующий")).to_be_checked()
    await accessible(page, "programme-form")
    await page.fill("#ends_on", "2027-05-31")
    await page.get_by_role("button", name="Сохранить программу").click()
    await expect(page.get_by_text("Программа сохранена.")).to_be_visible()
    # The name's brackets are text, not markup.
    await page.get_by_role("link", name="Boilers <b>north</b>").click()
    await expect(page.locator("#portrait-regions")).to_have_value("Tver, Pskov")
    await page.fill("#portrait-regions", "Tver")
    await page.get_by_role("button", name="Сохранить программу").click()
    await expect(page.get_by_role("cell", name="Tver", exact=False).first).to_be_visible()
    await accessible(page, "programmes")


async def test_a_salesperson_cannot_define_a_programme(crm: Crm, browser: Browser) -> None:
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/programmes")  # mseller reads the console in English
    await expect(page.get_by_role("link", name=crm.programme_name)).to_be_visible()
    await expect(page.get_by_role("link", name="Define a programme")).to_have_count(0)
    await page.get_by_role("link", name=crm.programme_name).click()
    await expect(page.get_by_role("button", name="Save the programme")).to_have_count(0)
    refused = await page.request.post(
        f"{CONSOLE}/programmes/new",
        form={"csrf_token": await csrf_of(page), "name": "Mine", "starts_on": "2027-01-01"},
        max_redirects=0,
    )
    assert refused.status == 403


async def test_the_plan_schedule_shows_a_week_day_by_day(crm: Crm, browser: Browser) -> None:
    title = f"Week <view> {uuid.uuid4().hex[:6]}"
    await new_event(crm, title, days_ahead=14)
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/events")
    await page.get_by_role("link", name="Week", exact=True).click()
    await expect(page.locator("ol.week > li")).to_have_count(7)
    await expect(page.get_by_role("link", name=title)).to_have_count(0)
    await page.get_by_role("link", name="Next week").click()
    await page.get_by_role("link", name="Next week").click()
    await expect(page.get_by_role("link", name=title)).to_be_visible()
    await accessible(page, "events-week")


async def test_the_event_page_shows_its_questionnaire_and_effectiveness(
    crm: Crm, browser: Browser
) -> None:
    event_id = await new_event(crm, f"Survey day {uuid.uuid4().hex[:6]}", days_ahead=5)
    defined = await crm.apis["campaigns"].put(
        f"/events/{event_id}/questionnaire",
        json={
            "title": "Your <interests>",
            "questions": [{"question_id": "rating", "text": "How was it?", "kind": "scale"}],
        },
        headers=crm.app(*CAMPAIGNS_SCOPES) | {"If-Match": '"0"'},
    )
    assert defined.status_code in (200, 201), defined.text
    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/events/{event_id}")
    await expect(page.get_by_role("heading", name="Effectiveness")).to_be_visible()
    await expect(page.get_by_text("Your <interests>")).to_be_visible()
    await expect(page.get_by_role("listitem").filter(has_text="How was it?")).to_be_visible()
    await expect(page.get_by_label("Link for anyone at the event")).to_have_value(
        re.compile(r"/q/")
    )
    await accessible(page, "event-results")


async def test_the_event_page_shows_the_results_of_each_question_and_their_csv(
    crm: Crm, browser: Browser
) -> None:
    event_id = await new_event(crm, f"Results day {uuid.uuid4().hex[:6]}", days_ahead=6)
    campaigns, app = crm.apis["campaigns"], crm.app(*CAMPAIGNS_SCOPES)
    defined = await campaigns.put(
        f"/events/{event_id}/questionnaire",
        json={"title": "After the day", "questions": [
            {"question_id": "format", "text": "Which format?", "kind": "single_choice",
             "options": ["Seminar", "Webinar"]},
            {"question_id": "rating", "text": "How was it?", "kind": "scale"},
            {"question_id": "remarks", "text": "Anything else?", "kind": "free_text"},
        ]},
        headers=app | {"If-Match": '"0"'},
    )  # fmt: skip
    assert defined.status_code == 200, defined.text
    for answers in (
        [{"question_id": "format", "choices": ["Seminar"]}, {"question_id": "rating", "scale": 4},
         {"question_id": "remarks", "text": "<b>More</b> of it"}],
        [{"question_id": "format", "choices": ["Seminar"]}, {"question_id": "rating", "scale": 5},
         {"question_id": "remarks", "text": "=1+2"}],
    ):  # fmt: skip
        keyed = await campaigns.post(
            f"/events/{event_id}/questionnaire/responses", json={"answers": answers}, headers=app
        )
        assert keyed.status_code == 201, keyed.text

    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/events/{event_id}")
    await expect(page.get_by_role("heading", name="Questionnaire results")).to_be_visible()
    await expect(page.get_by_role("row", name="Seminar 2")).to_be_visible()
    await expect(page.get_by_role("row", name="Webinar 0")).to_be_visible()
    await expect(page.get_by_text("mean: 4.5")).to_be_visible()
    # A respondent's markup is text.
    await expect(page.get_by_text("<b>More</b> of it")).to_be_visible()
    await accessible(page, "event-questionnaire-results")

    exported = await page.request.get(f"{CONSOLE}/events/{event_id}/questionnaire/results.csv")
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = (await exported.text()).splitlines()
    assert "format,Which format?,single_choice,Seminar,2,," in lines
    assert any(line.startswith("remarks,Anything else?,free_text,'=1+2,,paper,") for line in lines)
    await page.context.close()


async def test_every_free_text_of_a_question_is_on_its_own_page_a_page_at_a_time(
    crm: Crm, browser: Browser
) -> None:
    event_id = await new_event(crm, f"Remarks day {uuid.uuid4().hex[:6]}", days_ahead=6)
    campaigns, app = crm.apis["campaigns"], crm.app(*CAMPAIGNS_SCOPES)
    question = "ещё замечания?"  # an id is any text: the console's links quote it
    defined = await campaigns.put(
        f"/events/{event_id}/questionnaire",
        json={"title": "After the day", "questions": [
            {"question_id": question, "text": "Anything else?", "kind": "free_text"},
        ]},
        headers=app | {"If-Match": '"0"'},
    )  # fmt: skip
    assert defined.status_code == 200, defined.text
    for n in range(55):
        text = "<i>escaped</i>" if n == 54 else f"remark {n:02d}"
        keyed = await campaigns.post(
            f"/events/{event_id}/questionnaire/responses",
            json={"answers": [{"question_id": question, "text": text}]},
            headers=app,
        )
        assert keyed.status_code == 201, keyed.text

    page = await signed_in(browser, "mseller")
    await page.goto(f"{CONSOLE}/events/{event_id}")
    await expect(page.get_by_text("remark 35")).to_be_visible()  # the newest 20
    await expect(page.get_by_text("remark 34")).to_have_count(0)
    await page.get_by_role("link", name="Every text given to this question").click()
    await expect(page.get_by_role("heading", name="Anything else?")).to_be_visible()
    await expect(page.get_by_text("<i>escaped</i>")).to_be_visible()  # text, not markup
    await expect(page.get_by_text("remark 05")).to_be_visible()  # the newest 50
    await expect(page.get_by_text("remark 04")).to_have_count(0)
    await accessible(page, "question-texts")
    await page.get_by_role("link", name="Older texts").click()
    for n in range(5):
        await expect(page.get_by_text(f"remark {n:02d}")).to_be_visible()
    await expect(page.get_by_text("remark 05")).to_have_count(0)
    await expect(page.get_by_role("link", name="Older texts")).to_have_count(0)
    await page.get_by_role("link", name=re.compile("Remarks day")).click()
    await expect(page.get_by_role("heading", name="Questionnaire results")).to_be_visible()

    unknown = await page.request.get(f"{CONSOLE}/events/{event_id}/questionnaire/nothing/texts")
    assert unknown.status == 404
    await page.context.close()
