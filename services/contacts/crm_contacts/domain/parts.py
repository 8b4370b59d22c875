"""The parts of a client: its people, curator terms, addresses, source; and their clean-up rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from crm_contracts.values import Channel, ClientSourceKind, Language

from crm_contacts.domain.channels import Channels, Consent, consent_for
from crm_contacts.domain.errors import InvalidInputError, InvalidTaxId

_TAX_ID_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    # Russia: INN of 10 digits (organisations) or 12 digits (people).
    "RU": (re.compile(r"^\d{10}(\d{2})?$"), "10 or 12 digits"),
    # Kazakhstan: BIN/IIN of 12 digits; Belarus: UNP of 9 digits.
    "KZ": (re.compile(r"^\d{12}$"), "12 digits"),
    "BY": (re.compile(r"^\d{9}$"), "9 digits"),
}


def normalise_tax_id(tax_id: str | None, country: str | None) -> str | None:
    if tax_id is None:
        return None
    value = re.sub(r"[\s-]", "", tax_id)
    if not value:
        return None
    rule = _TAX_ID_FORMATS.get((country or "").upper())
    if rule is not None and not rule[0].fullmatch(value):
        raise InvalidTaxId(f"a tax id in {country} has {rule[1]}, not {tax_id!r}", field="tax_id")
    return value


def normalise_tags(tags: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip().lower() for t in tags if t.strip()))


def clean_name(name: str, *, field: str = "name") -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise InvalidInputError("the name must not be blank", field=field)
    return cleaned


@dataclass(frozen=True)
class FieldOfActivity:
    code: str
    label: str


@dataclass(frozen=True)
class Address:
    text: str
    kind: str = "legal"
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Source:
    kind: ClientSourceKind = ClientSourceKind.MANUAL
    event_id: str | None = None
    programme_id: str | None = None
    questionnaire_response_id: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Person:
    person_id: str
    name: str
    language: Language
    channels: Channels
    added_at: datetime
    position: str | None = None
    department: str | None = None
    preferred_channel: Channel | None = None
    consents: tuple[Consent, ...] = ()
    updated_at: datetime | None = None
    version: int = 1
    erased_at: datetime | None = None
    """When the person was erased: only the id, language and dates are kept."""

    def may_contact(self, channel: Channel) -> bool:
        consent = consent_for(self.consents, channel)
        return self.channels.address(channel) is not None and bool(consent and consent.granted)


@dataclass(frozen=True)
class CuratorTerm:
    curator_id: str
    assigned_at: datetime
    assigned_by: str | None = None
    ended_at: datetime | None = None
