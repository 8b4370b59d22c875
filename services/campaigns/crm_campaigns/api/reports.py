"""The market-needs report for management: JSON, CSV, or an HTML page with a bar chart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from crm_kit.csv_export import csv_text
from crm_kit.fields import DomainDateTime
from crm_kit.http import IdQuery, LabelQuery
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, BaseModel

from crm_campaigns import pages
from crm_campaigns.api.common import Reader
from crm_campaigns.projections.people import catalog_names
from crm_campaigns.repository.needs import Needs

router = APIRouter(tags=["reports"])


class FieldShare(BaseModel):
    field_of_activity: str
    mentions: int


class NeedRow(BaseModel):
    item_code: str
    name: str
    mentions: int
    distinct_clients: int
    share: float
    """This item's mentions ÷ all mentions in the selection."""
    by_field_of_activity: list[FieldShare]


class MarketNeeds(BaseModel):
    total_mentions: int
    items: list[NeedRow]


async def market_needs(
    runtime: RuntimeDep,
    period_from: AwareDatetime | None,
    period_to: AwareDatetime | None,
    programme_id: str | None,
    field_of_activity: str | None,
) -> MarketNeeds:
    match: dict[str, Any] = {}
    if period_from or period_to:
        match["at"] = {
            **({"$gte": period_from} if period_from else {}),
            **({"$lt": period_to} if period_to else {}),
        }
    if programme_id:
        match["programme_id"] = programme_id
    if field_of_activity:
        match["field_of_activity"] = field_of_activity
    items = await Needs(runtime).per_item(match)
    total = sum(item["mentions"] for item in items)
    names = await catalog_names(runtime.db, (item["item_code"] for item in items))
    rows = [
        NeedRow(
            item_code=item["item_code"],
            name=names.get(item["item_code"], item["item_code"]),
            mentions=item["mentions"],
            distinct_clients=item["distinct_clients"],
            share=round(item["mentions"] / total, 4) if total else 0.0,
            by_field_of_activity=sorted(
                (FieldShare(**f) for f in item["by_field_of_activity"]),
                key=lambda f: (-f.mentions, f.field_of_activity),
            ),
        )
        for item in items
    ]
    rows.sort(key=lambda r: (-r.mentions, r.item_code))
    return MarketNeeds(total_mentions=total, items=rows)


def as_csv(report: MarketNeeds) -> str:
    """One row per item and field of activity; names and codes come from other services and
    from people's answers, so every text cell goes through the kit's formula guard."""
    header = [
        "item_code",
        "name",
        "mentions",
        "distinct_clients",
        "share",
        "field_of_activity",
        "field_mentions",
    ]
    return csv_text(
        header,
        (
            [
                row.item_code,
                row.name,
                row.mentions,
                row.distinct_clients,
                row.share,
                f.field_of_activity,
                f.mentions,
            ]
            for row in report.items
            for f in row.by_field_of_activity or [FieldShare(field_of_activity="", mentions=0)]
        ),
    )


@router.get(
    "/reports/market-needs",
    response_model=MarketNeeds,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
    summary="Needs for goods and services identified at events, per item (JSON, CSV or HTML)",
)
async def get_market_needs(
    runtime: RuntimeDep,
    _: Reader,
    period_from: Annotated[DomainDateTime | None, Query(alias="from")] = None,
    period_to: Annotated[DomainDateTime | None, Query(alias="to")] = None,
    programme_id: IdQuery = None,
    field_of_activity: LabelQuery = None,
    output: Annotated[Literal["json", "csv", "html"], Query(alias="format")] = "json",
) -> Any:
    report = await market_needs(runtime, period_from, period_to, programme_id, field_of_activity)
    if output == "csv":
        return Response(
            as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="market-needs.csv"'},
        )
    if output == "html":
        page: HTMLResponse = pages.render(
            "market_needs.html",
            title="Market needs identified at events",
            total=report.total_mentions,
            rows=report.items,
            period=" – ".join(p.date().isoformat() for p in (period_from, period_to) if p),
        )
        return page
    return report
