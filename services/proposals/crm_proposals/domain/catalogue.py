"""The catalogue of goods and services a proposal's lines come from."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from crm_contracts.values import CatalogItemKind

from crm_proposals.domain.errors import InvalidValue

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class CatalogItem:
    code: str
    name: str
    kind: CatalogItemKind
    unit: str
    list_price_minor: int
    currency: str
    active: bool
    changed_at: datetime
    version: int = 1


def define_item(
    *,
    code: str,
    name: str,
    kind: CatalogItemKind,
    unit: str,
    list_price_minor: int,
    currency: str,
    active: bool,
    now: datetime,
    version: int = 1,
) -> CatalogItem:
    if not CODE.fullmatch(code):
        raise InvalidValue(
            "a code is 1-64 letters, digits, '_' or '-', starting with a letter or digit",
            field="body.code",
        )
    if list_price_minor < 0:
        raise InvalidValue("a list price may not be negative", field="body.list_price.amount_minor")
    if not name.strip():
        raise InvalidValue("an item needs a name", field="body.name")
    return CatalogItem(
        code=code,
        name=name.strip(),
        kind=kind,
        unit=unit.strip(),
        list_price_minor=list_price_minor,
        currency=currency,
        active=active,
        changed_at=now,
        version=version,
    )
