"""Sales models, one document each with its versions."""

from __future__ import annotations

from collections.abc import Sequence

from crm_contracts.base import ContractEvent
from crm_contracts.values import SalesModelOrigin
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime

from crm_proposals.domain.sales_model import ModelVersion, SalesModel
from crm_proposals.repository import SALES_MODELS
from crm_proposals.repository.codec import dump, load
from crm_proposals.repository.pages import page


def _fields(m: SalesModel) -> Document:
    return {
        "name": m.name,
        "description": m.description,
        "origin": m.origin.value,
        "versions": [dump(ModelVersion, v) for v in m.versions],
        "published_version": m.published_version,
        "deals_count": m.deals_count,
    }


def _from_doc(doc: Document) -> SalesModel:
    return SalesModel(
        model_id=doc["_id"],
        name=doc["name"],
        description=doc.get("description"),
        origin=SalesModelOrigin(doc["origin"]),
        versions=[load(ModelVersion, v) for v in doc["versions"]],
        published_version=doc.get("published_version"),
        deals_count=doc.get("deals_count"),
        version=doc["version"],
    )


class SalesModelRepository:
    def __init__(self, runtime: Runtime) -> None:
        self.models = runtime.outbox(SALES_MODELS, entity="sales model")

    async def add(self, model: SalesModel, events: Sequence[ContractEvent]) -> SalesModel:
        return _from_doc(
            await self.models.insert({"_id": model.model_id, **_fields(model)}, events)
        )

    async def save(
        self, model: SalesModel, events: Sequence[ContractEvent], *, expected_version: int
    ) -> SalesModel:
        doc = await self.models.update(
            model.model_id, {"$set": _fields(model)}, events, expected_version=expected_version
        )
        return _from_doc(doc)

    async def get(self, model_id: str) -> SalesModel | None:
        doc = await self.models.collection.find_one({"_id": model_id})
        return _from_doc(doc) if doc else None

    async def list(
        self, *, cursor: str | None, limit: int | None
    ) -> tuple[list[SalesModel], str | None]:
        docs, nxt = await page(self.models.collection, {}, cursor, limit)
        return [_from_doc(d) for d in docs], nxt
