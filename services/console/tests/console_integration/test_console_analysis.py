"""Analysis in the console: each report is a chart with its title and description beside the
same figures as a table, passes axe-core, and exports a CSV whose cells a spreadsheet reads as
text — an event named like a formula is written with a leading quote."""

from __future__ import annotations

import uuid

import pytest
from crm_kit.testing import eventually
from playwright.async_api import Browser, expect

from .conftest import (
    CAMPAIGNS_SCOPES,
    CONSOLE,
    Crm,
    accessible,
    new_event,
    record_contact,
    signed_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

FORMULA = '=HYPERLINK("http://attacker.example","Pumps")'


async def _a_need_heard_at_the_event(crm: Crm) -> str:
    """A catalogue code heard as a need in a contact at the programme's event; back once
    campaigns' market needs report counts it."""
    code = f"NEED-{uuid.uuid4().hex[:6]}".upper()
    await record_contact(
        crm,
        "mseller",
        "Wants pumps",
        kind="event_talk",
        need_item_codes=[code],
        event_id=crm.event_id,
    )

    async def counted() -> bool:
        report = await crm.apis["campaigns"].get(
            "/reports/market-needs", headers=crm.app(*CAMPAIGNS_SCOPES)
        )
        return any(r["item_code"] == code for r in report.json()["items"])

    await eventually(counted, within=120, what="the need counted in the market needs report")
    return code


async def test_market_needs_are_charted_with_a_table_and_a_csv(crm: Crm, browser: Browser) -> None:
    code = await _a_need_heard_at_the_event(crm)
    page = await signed_in(browser, "vdirektorov")
    await page.goto(f"{CONSOLE}/analysis")
    await page.get_by_role("link", name="Потребности рынка").click()
    chart = page.get_by_role("img", name="Упоминания каждой позиции в контактах и на мероприятиях")
    await expect(chart).to_be_visible()
    await expect(chart.locator("desc")).to_contain_text(f"{code}: 1")
    await expect(page.get_by_role("row", name=code).first).to_be_visible()
    await accessible(page, "analysis-market-needs")

    exported = await page.request.get(f"{CONSOLE}/analysis/market-needs/csv")
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = (await exported.text()).splitlines()
    assert lines[0] == "item_code,name,mentions,distinct_clients,share"
    assert f"{code},{code},1,1,1.0" in lines
    await page.context.close()


async def test_an_event_named_like_a_formula_is_exported_as_text(
    crm: Crm, browser: Browser
) -> None:
    event_id = await new_event(crm, FORMULA, days_ahead=2)
    page = await signed_in(browser, "vdirektorov")
    await page.goto(f"{CONSOLE}/analysis/events")
    chart = page.get_by_role("img", name="Пришедшие гости по мероприятиям")
    await expect(chart.locator("desc")).to_contain_text(f"{FORMULA}: 0")
    await expect(page.get_by_role("row", name="Pumps for water utilities")).to_be_visible()
    exported = await page.request.get(f"{CONSOLE}/analysis/events/csv")
    text = await exported.text()
    assert f"{event_id},\"'=HYPERLINK(" in text
    assert ",=HYPERLINK" not in text
    await page.context.close()


@pytest.mark.parametrize("report", ["events", "pipeline", "sales-model"])
async def test_every_report_has_its_chart_table_and_csv(
    crm: Crm, browser: Browser, report: str
) -> None:
    page = await signed_in(browser, "vdirektorov")
    response = await page.goto(f"{CONSOLE}/analysis/{report}")
    assert response is not None
    assert response.status == 200
    await expect(page.get_by_role("link", name="Скачать в CSV")).to_be_visible()
    await accessible(page, f"analysis-{report}")
    exported = await page.request.get(f"{CONSOLE}/analysis/{report}/csv")
    assert exported.status == 200
    assert exported.headers["content-type"].startswith("text/csv")
    await page.context.close()
