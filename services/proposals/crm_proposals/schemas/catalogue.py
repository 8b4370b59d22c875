"""HTTP shapes: catalogue."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.values import (
    CatalogItemKind,
)
from crm_kit.fields import Code
from pydantic import BaseModel, Field

from crm_proposals.schemas.common import In, MoneyBody, MoneyOut


class CatalogItemUpdate(In):
    name: str = Field(min_length=1, max_length=200)
    kind: CatalogItemKind
    unit: str = Field(min_length=1, max_length=20, examples=["pcs", "hour", "licence"])
    list_price: MoneyBody
    active: bool = True


class CatalogItemCreate(CatalogItemUpdate):
    code: Code


class CatalogItemOut(BaseModel):
    code: str
    name: str
    kind: CatalogItemKind
    unit: str
    list_price: MoneyOut
    active: bool
    changed_at: datetime
    version: int
