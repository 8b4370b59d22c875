"""The invitation's QR code: the answer page shows the QR code of the participant's check-in
code, and the check-in takes what a scanner reads from it (the bare code, or a URL ending
with it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import segno
from crm_campaigns.links import LinkPurpose, LinkSigner

from .conftest import Campaigns
from .test_plan_schedule import schedule
from .test_waitlist_and_no_show import add_one, people


async def test_the_answer_page_shows_the_qr_code_of_the_check_in_code(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    [person] = await people(c, 1)
    eid = (await schedule(c, capacity=None))["id"]
    participant = await add_one(c, eid, person)
    token = LinkSigner(c.runtime.settings.link_secret).sign(
        LinkPurpose.ANSWER,
        event_id=eid,
        participant_id=participant["id"],
        now=datetime.now(UTC),
        ttl=timedelta(days=1),
    )
    page = await c.http.get(f"/i/{token}")
    assert page.status_code == 200, page.text
    code = participant["check_in_code"]
    # Exactly the code's QR code, inline: the page loads no image, so its policy stays strict.
    expected = segno.make(code, micro=False).svg_inline(scale=5)
    assert expected in page.text
    assert "img-src" not in page.headers["content-security-policy"]
    assert "default-src 'none'" in page.headers["content-security-policy"]


async def test_the_check_in_takes_what_a_scanner_reads_and_refuses_a_wrong_code(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    a, b, d = await people(c, 3)
    eid = (await schedule(c, capacity=None))["id"]
    pa, pb, pd = [await add_one(c, eid, p) for p in (a, b, d)]

    async def check_in(scanned: str) -> Any:
        return await c.http.post(
            f"/events/{eid}/attendance", json={"code": scanned}, headers=c.write()
        )

    bare = await check_in(f"  {pa['check_in_code']}\n")
    assert bare.status_code == 200, bare.text
    assert (bare.json()["id"], bare.json()["status"]) == (pa["id"], "attended")
    url = await check_in(f"https://events.example.com/check-in/{pb['check_in_code'].lower()}/")
    assert url.status_code == 200, url.text
    assert url.json()["id"] == pb["id"]
    again = await check_in(pa["check_in_code"])
    assert again.status_code == 200  # checking in twice changes nothing

    wrong = await check_in("https://events.example.com/check-in/NOPE0000")
    assert wrong.status_code == 404
    assert wrong.headers["content-type"] == "application/problem+json"
    assert wrong.json()["errors"][0]["field"] == "code"
    empty = await check_in("https://events.example.com/")
    assert empty.status_code == 422
    assert empty.headers["content-type"] == "application/problem+json"
    assert empty.json()["errors"][0]["field"] == "body.code"
    untouched = await c.http.get(f"/events/{eid}/participants/{pd['id']}", headers=c.read())
    assert untouched.json()["status"] != "attended"
