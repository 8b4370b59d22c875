"""Catalogue items, keyed by their code."""

from __future__ import annotations

from typing import Any

from crm_contracts.base import ContractEvent
from crm_contracts.values import CatalogItemKind
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_proposals.domain.catalogue import CatalogItem
from crm_proposals.repository import CATALOG
from crm_proposals.repository.pages import page


def _to_doc(item: CatalogItem) -> Document:
    return {
        "_id": item.code,
        "name": item.name,
        "kind": item.kind.value,
        "unit": item.unit,
        "list_price_minor": item.list_price_minor,
        "currency": item.currency,
        "active": item.active,
        "changed_at": item.changed_at,
    }


def _from_doc(doc: Document) -> CatalogItem:
    return CatalogItem(
        code=doc["_id"],
        name=doc["name"],
        kind=CatalogItemKind(doc["kind"]),
        unit=doc["unit"],
        list_price_minor=doc["list_price_minor"],
        currency=doc["currency"],
        active=doc["active"],
        changed_at=doc["changed_at"],
        version=doc["version"],
    )


class CatalogRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.items = runtime.outbox(CATALOG, entity="catalogue item")

    async def add(self, item: CatalogItem, events: list[ContractEvent]) -> CatalogItem:
        return _from_doc(await self.items.insert(_to_doc(item), events))

    async def replace(
        self, item: CatalogItem, events: list[ContractEvent], expected_version: int
    ) -> CatalogItem:
        fields = {k: v for k, v in _to_doc(item).items() if k != "_id"}
        doc = await self.items.update(
            item.code, {"$set": fields}, events, expected_version=expected_version
        )
        return _from_doc(doc)

    async def get(self, code: str) -> CatalogItem | None:
        doc = await self.items.collection.find_one({"_id": code})
        return _from_doc(doc) if doc else None

    async def get_many(self, codes: set[str]) -> dict[str, CatalogItem]:
        cursor = self.items.collection.find({"_id": {"$in": sorted(codes)}})
        return {d["_id"]: _from_doc(d) async for d in cursor}

    async def list(
        self,
        *,
        active: bool | None,
        kind: CatalogItemKind | None,
        cursor: str | None,
        limit: int | None,
    ) -> tuple[list[CatalogItem], str | None]:
        query: dict[str, Any] = {}
        if active is not None:
            query["active"] = active
        if kind is not None:
            query["kind"] = kind.value
        docs, nxt = await page(self.items.collection, query, cursor, limit)
        return [_from_doc(d) for d in docs], nxt
