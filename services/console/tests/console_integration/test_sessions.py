"""Sessions over HTTP against the real provider: kept server-side (the store holds only the
digest of the cookie, under a TTL index), renewed at the provider when the access token ends,
ended by signing out; a POST needs its CSRF token; a service's refusal or a bad address is a
readable page, never a 500; what the services hold is escaped."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .conftest import CONTACTS_SCOPES, Crm, csrf_in, signed_in_http

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_a_page_without_a_session_sends_the_person_to_sign_in(crm: Crm) -> None:
    async with httpx.AsyncClient(base_url="http://127.0.0.1:8000") as anonymous:
        answer = await anonymous.get("/clients?q=x")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=%2Fclients%3Fq%3Dx"


async def test_the_store_keeps_a_digest_of_the_cookie_under_a_ttl_index(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        cookie = console.cookies["crm_console"]
        stored = await crm.sessions["sessions"].find_one(
            {"_id": hashlib.sha256(cookie.encode()).hexdigest()}
        )
        assert stored is not None
        assert stored["person"]["username"] == "mseller"
        assert stored["person"]["employee_id"] == crm.employees["mseller"]
        assert await crm.sessions["sessions"].find_one({"_id": cookie}) is None
    indexes = await crm.sessions["sessions"].index_information()
    ttl = [i for i in indexes.values() if i.get("expireAfterSeconds") == 0]
    assert [i["key"] for i in ttl] == [[("expires_at", 1)]]


async def test_an_ending_access_token_is_renewed_at_the_provider(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        key = hashlib.sha256(console.cookies["crm_console"].encode()).hexdigest()
        before = await crm.sessions["sessions"].find_one({"_id": key})
        assert before is not None
        await crm.sessions["sessions"].update_one(
            {"_id": key},
            {"$set": {"tokens.access_expires_at": datetime.now(UTC) - timedelta(seconds=1)}},
        )
        page = await console.get("/clients")
        assert page.status_code == 200
        assert crm.client_name in page.text
        after = await crm.sessions["sessions"].find_one({"_id": key})
        assert after is not None
        assert after["tokens"]["access_token"] != before["tokens"]["access_token"]
        assert after["tokens"]["access_expires_at"] > datetime.now(UTC)


async def test_a_refusal_to_renew_ends_the_session_and_asks_to_sign_in_again(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        key = hashlib.sha256(console.cookies["crm_console"].encode()).hexdigest()
        await crm.sessions["sessions"].update_one(
            {"_id": key},
            {
                "$set": {
                    "tokens.access_expires_at": datetime.now(UTC) - timedelta(seconds=1),
                    "tokens.refresh_token": "revoked",
                }
            },
        )
        page = await console.get("/proposals")
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=%2Fproposals"
        assert await crm.sessions["sessions"].find_one({"_id": key}) is None


async def test_signing_out_ends_the_session_here_and_at_the_provider(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        key = hashlib.sha256(console.cookies["crm_console"].encode()).hexdigest()
        page = await console.get("/")
        out = await console.post("/signout", data={"csrf_token": csrf_in(page.text)})
        assert out.status_code == 303
        assert "/protocol/openid-connect/logout" in out.headers["location"]
        assert await crm.sessions["sessions"].find_one({"_id": key}) is None
        again = await console.get("/")
        assert again.status_code == 303
        assert again.headers["location"].startswith("/signin")


async def test_a_post_with_a_foreign_origin_is_refused_even_with_its_token(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        page = await console.get("/")
        refused = await console.post(
            "/settings/language",
            data={"language": "ru", "csrf_token": csrf_in(page.text)},
            headers={"Origin": "https://evil.example"},
        )
        assert refused.status_code == 403


async def test_the_language_is_the_persons_choice_and_follows_them(crm: Crm) -> None:
    async with signed_in_http("gskladov") as console:
        page = await console.get("/")
        assert 'lang="ru"' in page.text
        assert ">Клиенты<" in page.text  # the menu, in Russian
        changed = await console.post(
            "/settings/language",
            data={"language": "en", "csrf_token": csrf_in(page.text), "back": "/clients"},
        )
        assert (changed.status_code, changed.headers["location"]) == (303, "/clients")
        assert 'lang="en"' in (await console.get("/")).text
    async with signed_in_http("gskladov") as console:
        assert 'lang="en"' in (await console.get("/")).text


async def test_a_refusal_or_a_bad_address_is_a_readable_page_never_a_500(crm: Crm) -> None:
    async with signed_in_http("mseller") as console:
        missing = await console.get("/clients/no-such-client")
        assert missing.status_code == 404
        assert 'role="alert"' in missing.text
        assert "contacts 404" in missing.text
        odd = await console.get("/clients/..%2F..%2Fhealthz")
        assert odd.status_code == 404
        bad_month = await console.get("/events?month=2026-13")
        assert bad_month.status_code == 200
        long_query = await console.get("/clients", params={"q": "x" * 5000})
        assert long_query.status_code == 400
        assert "<html" in long_query.text


async def test_what_the_services_hold_is_escaped(crm: Crm) -> None:
    name = '<script>alert("x")</script> & Co'
    made = await crm.apis["contacts"].post(
        "/clients", json={"name": name}, headers=crm.app(*CONTACTS_SCOPES)
    )
    assert made.status_code == 201, made.text
    async with signed_in_http("mseller") as console:
        card = await console.get(f"/clients/{made.json()['id']}")
    assert card.status_code == 200
    assert "<script>alert" not in card.text
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in card.text


async def test_the_plan_schedule_downloads_as_icalendar(crm: Crm) -> None:
    async with signed_in_http("omarkova") as console:
        listed = await console.get("/events")
        assert "Pumps for water utilities" in listed.text or "Previous month" in listed.text
        ics = await console.get("/events/calendar.ics")
    assert ics.status_code == 200
    assert ics.headers["content-type"].startswith("text/calendar")
    assert ics.text.startswith("BEGIN:VCALENDAR")


async def test_a_subscribable_icalendar_link_is_made_for_the_person(crm: Crm) -> None:
    async with signed_in_http("omarkova") as console:
        page = await console.get("/events")
        made = await console.post(
            "/events/calendar-feed", data={"csrf_token": csrf_in(page.text), "month": "2031-03"}
        )
        assert made.status_code == 200, made.text
        found = re.search(r'id="feed" class="wide" readonly value="([^"]+)"', made.text)
        assert found, made.text
    async with httpx.AsyncClient() as calendar_program:
        feed = await calendar_program.get(found.group(1))
    assert feed.status_code == 200
    assert feed.text.startswith("BEGIN:VCALENDAR")
