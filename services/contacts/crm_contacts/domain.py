"""The contacts domain: clients and the rules they follow. Pure Python, no I/O."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from crm_contracts.values import ClientKind, ClientSize, ClientSourceKind, ClientStatus


class ContactsError(Exception):
    """Base of the contacts domain's refusals; ``field`` names the offending input if any."""

    field: str | None = None

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class InvalidTaxId(ContactsError):
    pass


_TAX_ID_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    # Russia: INN of 10 digits (organisations) or 12 digits (people).
    "RU": (re.compile(r"^\d{10}(\d{2})?$"), "10 or 12 digits"),
}


def normalise_tax_id(tax_id: str | None, country: str | None) -> str | None:
    if tax_id is None:
        return None
    value = re.sub(r"[\s-]", "", tax_id)
    if not value:
        return None
    rule = _TAX_ID_FORMATS.get((country or "").upper())
    if rule is not None and not rule[0].fullmatch(value):
        raise InvalidTaxId(
            f"a tax id in {country} has {rule[1]}, not {tax_id!r}", field="body.tax_id"
        )
    return value


@dataclass(frozen=True)
class Client:
    client_id: str
    kind: ClientKind
    name: str
    status: ClientStatus
    registered_at: datetime
    tax_id: str | None = None
    country: str | None = None
    region: str | None = None
    size: ClientSize | None = None
    tags: tuple[str, ...] = ()
    website: str | None = None
    source: ClientSourceKind = ClientSourceKind.MANUAL
    source_event_id: str | None = None
    version: int = 1
    extra: dict[str, object] = field(default_factory=dict)


def register_client(
    *,
    kind: ClientKind,
    name: str,
    now: datetime,
    tax_id: str | None = None,
    country: str | None = None,
    region: str | None = None,
    size: ClientSize | None = None,
    tags: tuple[str, ...] = (),
    website: str | None = None,
    source: ClientSourceKind = ClientSourceKind.MANUAL,
    source_event_id: str | None = None,
) -> Client:
    """A new client always starts as a potential one."""
    return Client(
        client_id=str(uuid.uuid4()),
        kind=kind,
        name=" ".join(name.split()),
        status=ClientStatus.POTENTIAL,
        registered_at=now,
        tax_id=normalise_tax_id(tax_id, country),
        country=country.upper() if country else None,
        region=region,
        size=size,
        tags=tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip())),
        website=website,
        source=source,
        source_event_id=source_event_id,
    )
