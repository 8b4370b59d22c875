"""Subscribable plan-schedule feeds: a signed link a calendar program can poll without a
bearer token, reading that one feed only, until it expires or is revoked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from icalendar import Calendar

from .conftest import TEST_READ, Campaigns
from .test_plan_schedule import schedule


def uids(ics: bytes) -> list[str]:
    return sorted(str(c["uid"]) for c in Calendar.from_ical(ics).walk("VEVENT"))


async def test_a_feed_link_serves_its_filtered_schedule_until_revoked(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    seminar = await schedule(c, kind="seminar")
    await schedule(c, kind="webinar", place={"online_url": "https://meet.example/w"})
    read_only = await c.http.post(
        "/calendar-feeds", json={"label": "Seminars", "kind": "seminar"}, headers=c.read()
    )
    assert read_only.status_code == 403, read_only.text  # a feed link is made with write scope
    assert await c.runtime.db["calendar_feeds"].count_documents({}, comment=TEST_READ) == 0
    created = await c.http.post(
        "/calendar-feeds", json={"label": "Seminars", "kind": "seminar"}, headers=c.write()
    )
    assert created.status_code == 201, created.text
    feed = created.json()
    assert feed["path"].startswith("/feeds/plan-schedule/")
    assert feed["path"].endswith(".ics")
    assert feed["revoked_at"] is None
    assert datetime.fromisoformat(feed["expires_at"]) > datetime.now(UTC) + timedelta(days=364)

    subscribed = await c.http.get(feed["path"])  # no Authorization header: the link is enough
    assert subscribed.status_code == 200, subscribed.text
    assert subscribed.headers["content-type"].startswith("text/calendar")
    assert uids(subscribed.content) == [f"{seminar['id']}@campaigns.crm"]

    # The token reads this feed and nothing else.
    token = feed["path"].removeprefix("/feeds/plan-schedule/").removesuffix(".ics")
    assert (await c.http.get("/events.ics")).status_code == 401
    as_bearer = await c.http.get("/events", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401

    forged = await c.http.get(f"/feeds/plan-schedule/{token[:-2]}xx.ics")
    assert forged.status_code == 404
    listed = await c.http.get("/calendar-feeds", headers=c.read())
    assert [f["id"] for f in listed.json()["items"]] == [feed["id"]]

    assert (
        await c.http.delete(f"/calendar-feeds/{feed['id']}", headers=c.read())
    ).status_code == 403
    revoked = await c.http.delete(f"/calendar-feeds/{feed['id']}", headers=c.write())
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    gone = await c.http.get(feed["path"])
    assert gone.status_code == 410
    assert "withdrawn" in gone.text


async def test_an_expired_feed_link_stops_working(campaigns: Campaigns) -> None:
    c = campaigns
    await schedule(c)
    created = await c.http.post("/calendar-feeds", json={"valid_days": 1}, headers=c.write())
    feed = created.json()
    assert (await c.http.get(feed["path"])).status_code == 200
    await c.runtime.db["calendar_feeds"].update_one(
        {"_id": feed["id"]}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
    )  # a day later
    assert (await c.http.get(feed["path"])).status_code == 410


async def test_a_feed_refuses_bad_settings_naming_the_field(campaigns: Campaigns) -> None:
    refused = await campaigns.http.post(
        "/calendar-feeds", json={"valid_days": 0}, headers=campaigns.write()
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.valid_days"
    assert await campaigns.runtime.db["calendar_feeds"].count_documents({}, comment=TEST_READ) == 0
