"""Analysis for management, marketing and sales, from the services' reports: the market needs
heard at events and in contacts, each event's effectiveness, the pipeline and its conversion,
and the sales model mined from closed deals.

Each report is a chart drawn here as SVG (no script: a bar per row, its title and description
saying what it shows) beside the same figures as a table, and a CSV export whose text cells are
neutralised for spreadsheets (``crm_kit.csv_export``: names come from people and other services).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from crm_kit.csv_export import csv_text
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from crm_console.apis import ApiProblem
from crm_console.i18n import Formats
from crm_console.web.context import SignedIn, gather

router = APIRouter()

EVENTS_AT_MOST: Final = 50
"""Events whose effectiveness one page reads (one call each)."""
BAR: Final = 24
LABEL_WIDTH: Final = 260
BARS_WIDTH: Final = 360


@dataclass
class Report:
    """One report: its table (``columns`` and ``rows``, as shown), its chart (a bar per label)
    and its CSV (``csv_header`` and ``csv_rows``, raw values)."""

    title: str
    chart_title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    bars: list[tuple[str, float, str]] = field(default_factory=list)
    csv_header: list[str] = field(default_factory=list)
    csv_rows: list[list[Any]] = field(default_factory=list)
    facts: list[tuple[str, str]] = field(default_factory=list)


def bar_chart(bars: list[tuple[str, float, str]]) -> dict[str, Any]:
    """Bars laid out for the SVG: each label, its width and the figure written after it."""
    top = max((v for _, v, _ in bars), default=0) or 1
    laid = [
        {
            "label": label,
            "y": i * BAR,
            "width": round(BARS_WIDTH * max(value, 0) / top, 1),
            "shown": shown,
        }
        for i, (label, value, shown) in enumerate(bars)
    ]
    return {
        "bars": laid,
        "height": max(len(bars), 1) * BAR,
        "width": LABEL_WIDTH + BARS_WIDTH + 120,
        "label_width": LABEL_WIDTH,
    }


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    def params(self) -> dict[str, str]:
        return {
            "from": datetime(
                self.start.year, self.start.month, self.start.day, tzinfo=UTC
            ).isoformat(),
            "to": (
                datetime(self.end.year, self.end.month, self.end.day, tzinfo=UTC)
                + timedelta(days=1)
            ).isoformat(),
        }


def period_of(start: str, end: str) -> Period:
    today = date.today()
    try:
        first = date.fromisoformat(start) if start else today - timedelta(days=365)
    except ValueError:
        first = today - timedelta(days=365)
    try:
        last = date.fromisoformat(end) if end else today + timedelta(days=90)
    except ValueError:
        last = today + timedelta(days=90)
    return Period(min(first, last), max(first, last))


def _share(fmt: Formats, bp: int | None) -> str:
    return fmt.percent(bp) if bp is not None else ""


async def market_needs(visit: SignedIn, period: Period, fmt: Formats) -> Report:
    found = await visit.get("campaigns", "/reports/market-needs", period.params())
    _ = visit._
    report = Report(
        _("Market needs"),
        _("Mentions of each item in contacts and at events"),
        [_("Item"), _("Code"), _("Mentions"), _("Clients"), _("Share")],
        csv_header=["item_code", "name", "mentions", "distinct_clients", "share"],
        facts=[(_("Mentions in all"), fmt.number(found["total_mentions"]))],
    )
    for row in found["items"]:
        share = _share(fmt, round(row["share"] * 10_000))
        report.rows.append(
            [
                row["name"],
                row["item_code"],
                fmt.number(row["mentions"]),
                fmt.number(row["distinct_clients"]),
                share,
            ]
        )
        report.bars.append((row["name"], row["mentions"], fmt.number(row["mentions"])))
        report.csv_rows.append(
            [row["item_code"], row["name"], row["mentions"], row["distinct_clients"], row["share"]]
        )
    return report


async def event_effectiveness(visit: SignedIn, period: Period, fmt: Formats) -> Report:
    page = await visit.get("campaigns", "/events", {**period.params(), "limit": EVENTS_AT_MOST})
    events = sorted(page["items"], key=lambda e: e["starts_at"])
    found = await gather(
        *(visit.get("campaigns", f"/events/{e['id']}/effectiveness") for e in events)
    )
    _ = visit._
    report = Report(
        _("Event effectiveness"),
        _("Guests who came to each event"),
        [
            _("Event"),
            _("Starts"),
            _("Invited"),
            _("Accepted"),
            _("Came"),
            _("Participation"),
            _("New potential clients"),
            _("Cost per guest"),
        ],
        csv_header=[
            "event_id",
            "title",
            "starts_at",
            "invited",
            "accepted",
            "attended",
            "participation_ratio",
            "new_potential_clients",
            "cost_per_attendee_minor",
            "currency",
        ],
    )
    for event, e in zip(events, found, strict=True):
        if isinstance(e, ApiProblem):
            continue
        ratio = e.get("participation_ratio")
        cost = e.get("cost_per_attendee") or {}
        report.rows.append(
            [
                event["title"],
                fmt.date(event["starts_at"]),
                fmt.number(e["invited"]),
                fmt.number(e["accepted"]),
                fmt.number(e["attended"]),
                _share(fmt, round(ratio * 10_000)) if ratio is not None else "",
                fmt.number(e["new_potential_clients"]),
                fmt.money(cost) if cost else "",
            ]
        )
        report.bars.append((event["title"], e["attended"], fmt.number(e["attended"])))
        report.csv_rows.append(
            [
                event["id"],
                event["title"],
                event["starts_at"],
                e["invited"],
                e["accepted"],
                e["attended"],
                ratio,
                e["new_potential_clients"],
                cost.get("amount_minor"),
                cost.get("currency"),
            ]
        )
    return report


async def pipeline(visit: SignedIn, period: Period, fmt: Formats) -> Report:
    found = await visit.get("proposals", "/reports/pipeline", period.params())
    _ = visit._
    report = Report(
        _("Pipeline and conversion"),
        _("Proposals registered in the period, by status"),
        [_("Status"), _("Proposals"), _("Won"), _("Conversion"), _("Overdue steps"), _("Total")],
        csv_header=[
            "group",
            "key",
            "count",
            "won",
            "conversion_bp",
            "overdue_steps",
            "total_minor",
            "currency",
        ],
        facts=[
            (_("Registered"), fmt.number(found["registered"])),
            (_("Won"), fmt.number(found["won"])),
            (_("Conversion"), _share(fmt, found["conversion_bp"])),
        ],
    )
    for status, bucket in found["by_status"].items():
        report.rows.append(
            [
                _(status),
                fmt.number(bucket["count"]),
                fmt.number(bucket["won"]),
                _share(fmt, bucket["conversion_bp"]),
                fmt.number(bucket["overdue_steps"]),
                ", ".join(fmt.money(t) for t in bucket["totals"]),
            ]
        )
        report.bars.append((_(status), bucket["count"], fmt.number(bucket["count"])))
    for group in ("by_status", "by_month", "by_curator"):
        for key, bucket in found[group].items():
            for total in bucket["totals"] or [{"amount_minor": None, "currency": None}]:
                report.csv_rows.append(
                    [
                        group.removeprefix("by_"),
                        key,
                        bucket["count"],
                        bucket["won"],
                        bucket["conversion_bp"],
                        bucket["overdue_steps"],
                        total["amount_minor"],
                        total["currency"],
                    ]
                )
    return report


async def sales_model(visit: SignedIn, period: Period, fmt: Formats) -> Report:
    found = await visit.get("proposals", "/sales-models/mined")
    _ = visit._
    report = Report(
        _("Mined sales model"),
        _("How often each step was taken in won deals"),
        [
            _("Step"),
            _("Day"),
            _("Median hours"),
            _("Won deals"),
            _("Lost deals"),
            _("Share in won"),
            _("Share in lost"),
            _("Decisive"),
        ],
        csv_header=[
            "step_id",
            "title",
            "offset_days",
            "median_duration_hours",
            "won_deals",
            "lost_deals",
            "won_share_bp",
            "lost_share_bp",
            "decisive",
        ],
        facts=[
            (_("Won deals"), fmt.number(found["won_deals"])),
            (_("Lost deals"), fmt.number(found["lost_deals"])),
            (_("Open plans that skipped a decisive step"), fmt.number(len(found["flagged_plans"]))),
        ],
    )
    for s in found["steps"]:
        report.rows.append(
            [
                s["title"],
                fmt.number(s["offset_days"]),
                fmt.number(s["median_duration_hours"]),
                fmt.number(s["won_deals"]),
                fmt.number(s["lost_deals"]),
                _share(fmt, s["won_share_bp"]),
                _share(fmt, s["lost_share_bp"]),
                _("yes") if s["decisive"] else "",
            ]
        )
        report.bars.append((s["title"], s["won_share_bp"], _share(fmt, s["won_share_bp"])))
        report.csv_rows.append(
            [
                s["step_id"],
                s["title"],
                s["offset_days"],
                s["median_duration_hours"],
                s["won_deals"],
                s["lost_deals"],
                s["won_share_bp"],
                s["lost_share_bp"],
                s["decisive"],
            ]
        )
    return report


Maker = Callable[[SignedIn, Period, Formats], Awaitable[Report]]
REPORTS: Final[dict[str, Maker]] = {
    "market-needs": market_needs,
    "events": event_effectiveness,
    "pipeline": pipeline,
    "sales-model": sales_model,
}
DateText = Annotated[str, Query(max_length=10)]


@router.get("/analysis", response_class=HTMLResponse)
async def analysis(visit: SignedIn) -> HTMLResponse:
    return visit.page("analysis_index.html", reports=list(REPORTS))


async def _report(visit: SignedIn, name: str, start: str, end: str) -> tuple[Report, Period]:
    maker = REPORTS.get(name)
    if maker is None:
        raise ApiProblem(404, "This page does not exist.")
    period = period_of(start, end)
    return await maker(visit, period, Formats(visit.language)), period


@router.get("/analysis/{report}", response_class=HTMLResponse)
async def report_page(
    visit: SignedIn, report: str, start: DateText = "", end: DateText = ""
) -> HTMLResponse:
    shown, period = await _report(visit, report, start, end)
    return visit.page(
        "analysis.html",
        name=report,
        report=shown,
        chart=bar_chart(shown.bars),
        period=period,
    )


@router.get("/analysis/{report}/csv", response_model=None)
async def report_csv(
    visit: SignedIn, report: str, start: DateText = "", end: DateText = ""
) -> Response:
    shown, period = await _report(visit, report, start, end)
    return Response(
        csv_text(shown.csv_header, shown.csv_rows),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{report}-{period.start}.csv"',
            "Cache-Control": "no-store",
        },
    )
