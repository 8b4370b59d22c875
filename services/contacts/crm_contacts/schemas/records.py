"""HTTP shapes of contact records, their CSV import, and the timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from crm_contracts.values import ContactDirection, ContactKind
from crm_kit.fields import DomainDateTime
from crm_kit.problems import FieldError
from pydantic import BaseModel, Field

from crm_contacts import commands, domain
from crm_contacts.schemas.common import LongText, Page, Ref, Strict, Text

Codes = Annotated[list[Annotated[str, Field(min_length=1, max_length=60)]], Field(max_length=50)]


class ContactCreate(Strict):
    client_id: Ref
    person_id: Ref | None = None
    employee_id: Ref
    kind: ContactKind
    direction: ContactDirection = ContactDirection.OUTBOUND
    occurred_at: DomainDateTime
    summary: Annotated[str, Field(min_length=1, max_length=5000)]
    outcome: LongText | None = None
    need_item_codes: Codes = Field(default_factory=list)
    need_tags: Codes = Field(default_factory=list)
    event_id: Ref | None = None
    proposal_id: Ref | None = None

    def to_command(self) -> commands.RecordContact:
        return commands.RecordContact(
            client_id=self.client_id,
            person_id=self.person_id,
            employee_id=self.employee_id,
            kind=self.kind,
            direction=self.direction,
            occurred_at=self.occurred_at,
            summary=self.summary,
            outcome=self.outcome,
            need_item_codes=tuple(self.need_item_codes),
            need_tags=tuple(self.need_tags),
            event_id=self.event_id,
            proposal_id=self.proposal_id,
        )


class ContactOut(BaseModel):
    id: str
    client_id: str
    person_id: str | None
    employee_id: str
    kind: ContactKind
    direction: ContactDirection
    occurred_at: datetime
    summary: str
    outcome: str | None
    need_item_codes: list[str]
    need_tags: list[str]
    event_id: str | None
    proposal_id: str | None
    recorded_at: datetime

    @classmethod
    def of(cls, r: domain.ContactRecord) -> ContactOut:
        return cls(
            id=r.contact_id,
            client_id=r.client_id,
            person_id=r.person_id,
            employee_id=r.employee_id,
            kind=r.kind,
            direction=r.direction,
            occurred_at=r.occurred_at,
            summary=r.summary,
            outcome=r.outcome,
            need_item_codes=list(r.need_item_codes),
            need_tags=list(r.need_tags),
            event_id=r.event_id,
            proposal_id=r.proposal_id,
            recorded_at=r.recorded_at,
        )


class ImportRowOut(BaseModel):
    row: int = Field(description="The CSV line number (the header is line 1).")
    status: Literal["created", "error"]
    contact_id: str | None = None
    errors: list[FieldError] = Field(default_factory=list)


class ImportOut(BaseModel):
    created: int
    failed: int
    rows: list[ImportRowOut]


class TimelineActorOut(BaseModel):
    app: str
    employee_id: str | None


class TimelineEntryOut(BaseModel):
    id: str
    at: datetime
    kind: str
    source: str
    summary: Text
    refs: dict[str, str]
    actor: TimelineActorOut | None = Field(
        description="Who made the change through which app (null: no caller, e.g. a reaction)"
    )


class CuratedEntryOut(TimelineEntryOut):
    client_id: str
    client_name: Text


class CuratedTimelineOut(Page[CuratedEntryOut]):
    clients: int = Field(description="How many of the curator's clients were looked into.")
    clients_truncated: bool = Field(
        description="The curator has more clients than one read looks into (5,000): only "
        "that many were."
    )
