"""HTTP shapes of clients, their status, curator and duplicates."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any

from crm_contracts.values import ClientKind, ClientSize, ClientSourceKind, ClientStatus
from crm_kit.fields import HttpUrl
from pydantic import BaseModel, Field

from crm_contacts import commands, domain
from crm_contacts.repository import Dismissal
from crm_contacts.schemas.common import Ref, Strict, Text
from crm_contacts.schemas.people import PersonCreate


class FieldOfActivityIn(Strict):
    code: Annotated[str, Field(min_length=1, max_length=32)]
    label: Annotated[str, Field(min_length=1, max_length=200)]


class FieldOfActivityOut(BaseModel):
    code: str
    label: str


class AddressIn(Strict):
    kind: Annotated[str, Field(max_length=40)] = "legal"
    text: Annotated[str, Field(min_length=1, max_length=500)]
    city: Text | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", max_length=2)] | None = None

    def to_domain(self) -> domain.Address:
        return domain.Address(
            text=self.text,
            kind=self.kind,
            city=self.city,
            postal_code=self.postal_code,
            country=self.country,
        )


class AddressOut(BaseModel):
    kind: str
    text: str
    city: str | None
    postal_code: str | None
    country: str | None


Tags = Annotated[list[Annotated[str, Field(max_length=60)]], Field(max_length=50)]
Country = Annotated[str, Field(pattern=r"^[A-Za-z]{2}$", max_length=2)]


class ClientCreate(Strict):
    kind: ClientKind = ClientKind.ORGANISATION
    name: Annotated[str, Field(min_length=1, max_length=300)]
    tax_id: Annotated[str, Field(max_length=32)] | None = None
    country: Country | None = None
    field_of_activity: FieldOfActivityIn | None = None
    region: Annotated[str, Field(max_length=100)] | None = None
    size: ClientSize | None = None
    tags: Tags = Field(default_factory=list)
    website: HttpUrl | None = None
    addresses: Annotated[list[AddressIn], Field(max_length=10)] = Field(default_factory=list)
    source: ClientSourceKind = ClientSourceKind.MANUAL
    source_event_id: Ref | None = None
    source_programme_id: Ref | None = None
    source_note: Annotated[str, Field(max_length=500)] | None = None
    people: Annotated[list[PersonCreate], Field(max_length=20)] = Field(
        default_factory=list,
        description="The client's people, added with it (each one a `PersonAdded`); their "
        "e-mail addresses and phones take part in the duplicate check.",
    )

    def to_command(self, *, insist: bool) -> commands.RegisterClient:
        activity = self.field_of_activity
        return commands.RegisterClient(
            kind=self.kind,
            name=self.name,
            tax_id=self.tax_id,
            country=self.country,
            field_of_activity=domain.FieldOfActivity(activity.code, activity.label)
            if activity
            else None,
            region=self.region,
            size=self.size,
            tags=tuple(self.tags),
            website=self.website,
            addresses=tuple(a.to_domain() for a in self.addresses),
            source=domain.Source(
                kind=self.source,
                event_id=self.source_event_id,
                programme_id=self.source_programme_id,
                note=self.source_note,
            ),
            people=tuple(p.to_new_person() for p in self.people),
            insist=insist,
        )


class ClientPatch(Strict):
    """The fields to change; absent fields stay as they are. Status changes elsewhere."""

    kind: ClientKind | None = None
    name: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    tax_id: Annotated[str, Field(max_length=32)] | None = None
    country: Country | None = None
    field_of_activity: FieldOfActivityIn | None = None
    region: Annotated[str, Field(max_length=100)] | None = None
    size: ClientSize | None = None
    tags: Tags | None = None
    website: HttpUrl | None = None
    addresses: Annotated[list[AddressIn], Field(max_length=10)] | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "field_of_activity":
                value = domain.FieldOfActivity(value.code, value.label) if value else None
            elif name == "addresses":
                value = tuple(a.to_domain() for a in value or ())
            elif name == "tags":
                value = tuple(value or ())
            elif name in ("kind", "name") and value is None:
                continue  # required fields cannot be cleared; null means "leave it"
            out[name] = value
        return out


class StatusChange(Strict):
    status: ClientStatus
    reason: Annotated[str, Field(max_length=500)] | None = None


class SourceOut(BaseModel):
    kind: ClientSourceKind
    event_id: str | None
    programme_id: str | None
    questionnaire_response_id: str | None
    note: str | None


class ClientOut(BaseModel):
    id: str
    kind: ClientKind
    name: str
    status: ClientStatus
    tax_id: str | None
    country: str | None
    field_of_activity: FieldOfActivityOut | None
    region: str | None
    size: ClientSize | None
    tags: list[str]
    website: str | None
    addresses: list[AddressOut]
    source: SourceOut
    curator_id: str | None
    people_count: int
    registered_at: datetime
    updated_at: datetime | None
    version: int
    hidden: list[str] = Field(
        default=[],
        description="Fields withheld from this caller as personal data (shown as null or "
        "empty): a private person's `tax_id` and `addresses` for roles outside "
        "`crm_kit.access.PERSONAL_DATA` (docs/authorization.md).",
    )

    @classmethod
    def of(cls, c: domain.Client, *, personal: bool = True) -> ClientOut:
        """``personal``: whether the caller sees personal fields (``sees_personal_data``)."""
        activity = c.field_of_activity
        if not personal and c.kind is ClientKind.PERSON:
            hidden = [
                name for name, held in (("tax_id", c.tax_id), ("addresses", c.addresses)) if held
            ]
            c = replace(c, tax_id=None, addresses=())
        else:
            hidden = []
        return cls(
            id=c.client_id,
            kind=c.kind,
            name=c.name,
            status=c.status,
            tax_id=c.tax_id,
            country=c.country,
            field_of_activity=FieldOfActivityOut(code=activity.code, label=activity.label)
            if activity
            else None,
            region=c.region,
            size=c.size,
            tags=list(c.tags),
            website=c.website,
            addresses=[
                AddressOut(
                    kind=a.kind,
                    text=a.text,
                    city=a.city,
                    postal_code=a.postal_code,
                    country=a.country,
                )
                for a in c.addresses
            ],
            source=SourceOut(
                kind=c.source.kind,
                event_id=c.source.event_id,
                programme_id=c.source.programme_id,
                questionnaire_response_id=c.source.questionnaire_response_id,
                note=c.source.note,
            ),
            curator_id=c.curator_id,
            people_count=len(c.people),
            registered_at=c.registered_at,
            updated_at=c.updated_at,
            version=c.version,
            hidden=hidden,
        )


class CuratorIn(Strict):
    employee_id: Ref


class CuratorTermOut(BaseModel):
    curator_id: str
    assigned_at: datetime
    assigned_by: str | None
    ended_at: datetime | None


class CuratorOut(BaseModel):
    client_id: str
    curator_id: str | None
    history: list[CuratorTermOut]
    version: int

    @classmethod
    def of(cls, c: domain.Client) -> CuratorOut:
        return cls(
            client_id=c.client_id,
            curator_id=c.curator_id,
            history=[
                CuratorTermOut(
                    curator_id=t.curator_id,
                    assigned_at=t.assigned_at,
                    assigned_by=t.assigned_by,
                    ended_at=t.ended_at,
                )
                for t in c.curators
            ],
            version=c.version,
        )


class MergeIn(Strict):
    merged_client_id: Ref


class MergeOut(BaseModel):
    survivor: ClientOut
    merged_client_id: str
    moved_person_ids: list[str]
    moved_contact_ids: list[str]


class DuplicatePairOut(BaseModel):
    client_ids: tuple[str, str]
    names: tuple[str, str]
    reasons: list[str] = Field(description="What they share: tax_id, email, phone, name.")


class DismissalIn(Strict):
    client_ids: Annotated[list[Ref], Field(min_length=2, max_length=2)]
    note: Annotated[str, Field(max_length=500)] | None = None


class DismissalOut(BaseModel):
    client_ids: tuple[str, str]
    reasons: list[str] = Field(
        description="What the pair shared when dismissed; sharing anything more lists it again."
    )
    note: str | None
    dismissed_at: datetime
    dismissed_by: str | None

    @classmethod
    def of(cls, d: Dismissal) -> DismissalOut:
        return cls(
            client_ids=d.client_ids,
            reasons=list(d.reasons),
            note=d.note,
            dismissed_at=d.dismissed_at,
            dismissed_by=d.dismissed_by,
        )
