"""HTTP shapes of a client's people and their consent."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from crm_contracts.values import Channel, Language
from pydantic import BaseModel, Field

from crm_contacts import commands, domain
from crm_contacts.schemas.common import ChannelsIn, ChannelsOut, Strict, Text


class PersonCreate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    position: Text | None = None
    department: Text | None = None
    language: Language = Language.RU
    channels: ChannelsIn = Field(default_factory=ChannelsIn)
    preferred_channel: Channel | None = None
    consents: Annotated[list[Channel], Field(max_length=5)] = Field(
        default_factory=list, description="Channels the person agreed to be contacted through."
    )

    def to_command(self, client_id: str, *, insist: bool) -> commands.AddPerson:
        return commands.AddPerson(
            client_id=client_id,
            name=self.name,
            language=self.language,
            channels=self.channels.model_dump(),
            position=self.position,
            department=self.department,
            preferred_channel=self.preferred_channel,
            consents=tuple(self.consents),
            insist=insist,
        )

    def to_new_person(self) -> commands.NewPerson:
        return commands.NewPerson(
            name=self.name,
            language=self.language,
            channels=self.channels.model_dump(),
            position=self.position,
            department=self.department,
            preferred_channel=self.preferred_channel,
            consents=tuple(self.consents),
        )


class PersonPatch(Strict):
    """Fields to change; ``channels`` lists only the channels to change (null removes one).

    Consent changes through ``PUT …/consents/{channel}``.
    """

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    position: Text | None = None
    department: Text | None = None
    language: Language | None = None
    channels: ChannelsIn | None = None
    preferred_channel: Channel | None = None

    def changes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if name == "channels":
                value = value.model_dump(exclude_unset=True) if value else {}
            elif name in ("name", "language") and value is None:
                continue
            out[name] = value
        return out


class ConsentIn(Strict):
    granted: bool
    source: Annotated[str, Field(min_length=1, max_length=60)] = "api"


class ConsentOut(BaseModel):
    channel: Channel
    granted: bool
    at: datetime
    source: str


class PersonOut(BaseModel):
    id: str
    client_id: str
    name: str
    position: str | None
    department: str | None
    language: Language
    channels: ChannelsOut
    preferred_channel: Channel | None
    consents: list[ConsentOut]
    added_at: datetime
    updated_at: datetime | None
    version: int
    erased_at: datetime | None = Field(
        default=None,
        description="When the person was erased: their name reads `[erased]` and nothing "
        "else about them is kept.",
    )
    hidden: list[str] = Field(
        default=[],
        description="Fields withheld from this caller as personal data (shown as null): the "
        "channel addresses (`channels.email`, ...) for roles outside "
        "`crm_kit.access.PERSONAL_DATA` (docs/authorization.md).",
    )

    @classmethod
    def of(cls, client_id: str, p: domain.Person, *, personal: bool = True) -> PersonOut:
        """``personal``: whether the caller sees personal fields (``sees_personal_data``)."""
        addresses = {c.value: p.channels.address(c) for c in Channel}
        hidden = [] if personal else [f"channels.{c}" for c, a in addresses.items() if a]
        return cls(
            id=p.person_id,
            client_id=client_id,
            name=p.name,
            position=p.position,
            department=p.department,
            language=p.language,
            channels=ChannelsOut(**{c: a if personal else None for c, a in addresses.items()}),
            preferred_channel=p.preferred_channel,
            consents=[
                ConsentOut(channel=c.channel, granted=c.granted, at=c.at, source=c.source)
                for c in p.consents
            ],
            added_at=p.added_at,
            updated_at=p.updated_at,
            version=p.version,
            erased_at=p.erased_at,
            hidden=hidden,
        )
