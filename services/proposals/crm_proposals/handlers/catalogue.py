"""Catalogue use cases."""

from __future__ import annotations

from crm_contracts.values import CatalogItemKind
from crm_kit.clock import utc_now
from crm_kit.problems import NotFound
from crm_kit.runtime import Runtime

from crm_proposals import events
from crm_proposals.commands import ChangeCatalogItem, DefineCatalogItem
from crm_proposals.domain.catalogue import CatalogItem, define_item
from crm_proposals.handlers import check_version
from crm_proposals.repository.catalogue import CatalogRepository


def _item(command: DefineCatalogItem, version: int) -> CatalogItem:
    return define_item(
        code=command.code,
        name=command.name,
        kind=command.kind,
        unit=command.unit,
        list_price_minor=command.list_price_minor,
        currency=command.currency,
        active=command.active,
        now=utc_now(),
        version=version,
    )


async def define(runtime: Runtime, command: DefineCatalogItem) -> CatalogItem:
    item = _item(command, 1)
    return await CatalogRepository(runtime).add(item, [events.catalog_item_changed(item, 1)])


async def change(runtime: Runtime, command: ChangeCatalogItem) -> CatalogItem:
    repo = CatalogRepository(runtime)
    current = await get(runtime, command.item.code)
    check_version("catalogue item", current.code, current.version, command.expected_version)
    item = _item(command.item, current.version + 1)
    event = events.catalog_item_changed(item, current.version + 1)
    return await repo.replace(item, [event], command.expected_version)


async def get(runtime: Runtime, code: str) -> CatalogItem:
    item = await CatalogRepository(runtime).get(code)
    if item is None:
        raise NotFound(f"catalogue item {code} not found")
    return item


async def list_items(
    runtime: Runtime,
    *,
    active: bool | None,
    kind: CatalogItemKind | None,
    cursor: str | None,
    limit: int | None,
) -> tuple[list[CatalogItem], str | None]:
    return await CatalogRepository(runtime).list(
        active=active, kind=kind, cursor=cursor, limit=limit
    )
