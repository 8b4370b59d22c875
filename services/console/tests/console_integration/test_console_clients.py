"""Clients in the console beyond the card: a client's people added to an event from its card,
likely duplicates merged by someone who may (and not offered to a salesperson), and My work's
"what changed since I last looked"."""

from __future__ import annotations

import uuid

import pytest
from crm_kit.testing import eventually
from playwright.async_api import Browser, expect

from .conftest import (
    CAMPAIGNS_SCOPES,
    CONSOLE,
    CONTACTS_SCOPES,
    Crm,
    accessible,
    csrf_of,
    new_client,
    new_event,
    record_contact,
    signed_in,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


async def _twins(crm: Crm) -> tuple[str, str, str]:
    """Two clients of the same name, listed by contacts as likely duplicates."""
    name = f"Teplo {uuid.uuid4().hex[:6]}"
    # Out of the programme's portrait (its tag is "water"): no guest of the cycle's event.
    first = await new_client(crm, name, "mseller", tags=("heat",))
    second = await new_client(crm, name, "mseller", tags=("heat",), insist=True)

    async def listed() -> bool:
        found = await crm.apis["contacts"].get(
            "/duplicates", params={"limit": 200}, headers=crm.app(*CONTACTS_SCOPES)
        )
        return any({first, second} == set(p["client_ids"]) for p in found.json()["items"])

    await eventually(listed, within=60, what="the twins listed as likely duplicates")
    return name, first, second


async def test_likely_duplicates_are_merged_by_data_protection_not_by_sales(
    crm: Crm, browser: Browser
) -> None:
    name, first, second = await _twins(crm)

    seller = await signed_in(browser, "mseller")
    await seller.goto(f"{CONSOLE}/clients/duplicates")
    await expect(seller.get_by_role("heading", name=f"{name} / {name}")).to_be_visible()
    await expect(seller.get_by_role("button", name="Keep this one")).to_have_count(0)
    refused = await seller.request.post(
        f"{CONSOLE}/clients/duplicates/merge",
        form={"csrf_token": await csrf_of(seller), "survivor": first, "merged": second},
        max_redirects=0,
    )
    assert refused.status == 403
    await seller.context.close()

    page = await signed_in(browser, "vdirektorov")
    await page.goto(f"{CONSOLE}/clients")
    await page.get_by_role("link", name="Вероятные дубликаты").click()
    pair = page.get_by_role("region", name=f"{name} / {name}")
    await expect(pair.get_by_text("одно название")).to_be_visible()
    await accessible(page, "duplicates")
    await pair.get_by_role("button", name="Оставить этого, влить в него другого").first.click()
    await expect(page.get_by_text("Объединено: перенесено людей")).to_be_visible()
    survivor = page.url.rsplit("/", 1)[-1]
    assert survivor in (first, second)
    merged = second if survivor == first else first
    # The merged client's card is the survivor's now.
    await page.goto(f"{CONSOLE}/clients/{merged}")
    await expect(page).to_have_url(f"{CONSOLE}/clients/{survivor}")
    await page.context.close()


async def test_my_work_shows_what_changed_since_i_last_looked(crm: Crm, browser: Browser) -> None:
    page = await signed_in(browser, "mseller")
    changes = page.get_by_role("region", name="What changed since I last looked")
    await changes.get_by_role("button", name="Mark all as seen").click()
    summary = f"Called about the boiler room {uuid.uuid4().hex[:6]}"
    await record_contact(crm, "omarkova", summary)

    async def shown() -> bool:
        await page.goto(f"{CONSOLE}/")
        return await changes.get_by_text(summary).count() == 1

    await eventually(shown, within=60, what="the contact among what changed")
    row = changes.get_by_role("row", name=summary)
    await expect(row.get_by_role("link", name=crm.client_name)).to_be_visible()
    await accessible(page, "work-changes")
    await changes.get_by_role("button", name="Mark all as seen").click()
    await expect(changes.get_by_text(summary)).to_have_count(0)
    await page.context.close()


async def test_a_marketer_adds_a_clients_people_to_an_event_from_its_card(
    crm: Crm, browser: Browser
) -> None:
    event_id = await new_event(crm, f"Heating forum {uuid.uuid4().hex[:6]}", days_ahead=10)
    page = await signed_in(browser, "omarkova")
    await page.goto(f"{CONSOLE}/clients/{crm.client_id}")
    invite = page.get_by_role("region", name="Пригласить на мероприятие")
    await invite.get_by_label("Мероприятие").select_option(event_id)
    await invite.get_by_label("Anna Petrova, Chief engineer").check()
    await accessible(page, "client-invite")
    await invite.get_by_role("button", name="Добавить в участники").click()
    await expect(page.get_by_text("Добавлено в участники: 1")).to_be_visible()
    await expect(page).to_have_url(f"{CONSOLE}/events/{event_id}")
    listed = await crm.apis["campaigns"].get(
        f"/events/{event_id}/participants", headers=crm.app(*CAMPAIGNS_SCOPES)
    )
    assert [(p["name"], p["status"]) for p in listed.json()["items"]] == [
        ("Anna Petrova", "planned")
    ]
    await page.context.close()
