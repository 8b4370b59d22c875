"""The catalogue: goods and services with list prices. Writes need proposals:admin."""

from __future__ import annotations

from typing import Annotated

from crm_contracts.values import CatalogItemKind
from crm_kit.cursors import PageCursor
from crm_kit.http import CodePath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status

from crm_proposals.api import views
from crm_proposals.api.common import Admin, IfMatch, Reader, expected_version, set_etag
from crm_proposals.commands import ChangeCatalogItem, DefineCatalogItem
from crm_proposals.handlers import catalogue as handlers
from crm_proposals.schemas import CatalogItemCreate, CatalogItemOut, CatalogItemUpdate, Page

router = APIRouter(tags=["catalogue"])


def _command(code: str, body: CatalogItemUpdate) -> DefineCatalogItem:
    return DefineCatalogItem(
        code=code,
        name=body.name,
        kind=body.kind,
        unit=body.unit,
        list_price_minor=body.list_price.amount_minor,
        currency=body.list_price.currency,
        active=body.active,
    )


@router.post(
    "/catalog",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(409, 422),
    summary="Add a catalogue item (publishes CatalogItemChanged)",
)
async def create_item(
    body: CatalogItemCreate, runtime: RuntimeDep, _: Admin, response: Response
) -> CatalogItemOut:
    item = await handlers.define(runtime, _command(body.code, body))
    response.headers["Location"] = f"/catalog/{item.code}"
    set_etag(response, item.version)
    return views.catalog_item(item)


@router.get("/catalog", summary="Catalogue items in code order")
async def list_items(
    runtime: RuntimeDep,
    _: Reader,
    cursor: PageCursor,
    active: bool | None = None,
    kind: CatalogItemKind | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[CatalogItemOut]:
    items, nxt = await handlers.list_items(
        runtime, active=active, kind=kind, cursor=cursor.position, limit=limit
    )
    return Page(items=[views.catalog_item(i) for i in items], next_cursor=cursor.next(nxt))


@router.get("/catalog/{code}", responses=problem_responses(404), summary="One catalogue item")
async def get_item(
    code: CodePath, runtime: RuntimeDep, _: Reader, response: Response
) -> CatalogItemOut:
    item = await handlers.get(runtime, code)
    set_etag(response, item.version)
    return views.catalog_item(item)


@router.put(
    "/catalog/{code}",
    responses=problem_responses(404, 412, 422, 428),
    summary="Change a catalogue item (publishes CatalogItemChanged)",
)
async def change_item(
    code: CodePath,
    body: CatalogItemUpdate,
    runtime: RuntimeDep,
    _: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> CatalogItemOut:
    item = await handlers.change(
        runtime, ChangeCatalogItem(_command(code, body), expected_version(if_match))
    )
    set_etag(response, item.version)
    return views.catalog_item(item)
