"""The client aggregate: a client, its people and its curator history, and their rules.

Every operation returns the new state and the facts it caused; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from crm_contracts.personal import ERASED
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSize,
    ClientStatus,
    Language,
)
from crm_kit.refusals import Refusals

from crm_contacts.domain import matching
from crm_contacts.domain.channels import (
    Channels,
    Consent,
    check_preferred,
    consent_for,
    initial_consents,
    with_consent,
)
from crm_contacts.domain.errors import (
    AlreadyCurator,
    ChannelWithoutAddress,
    ClientAlreadyMerged,
    IllegalStatusChange,
    InvalidInputError,
    PersonAlreadyErased,
    PersonNotFound,
)
from crm_contacts.domain.facts import (
    ClientRegistered,
    ClientUpdated,
    ConsentChanged,
    CuratorAssigned,
    Fact,
    PersonAdded,
    PersonErased,
    PersonUpdated,
    StatusChanged,
)
from crm_contacts.domain.parts import (
    Address,
    CuratorTerm,
    FieldOfActivity,
    Person,
    Source,
    clean_name,
    normalise_tags,
    normalise_tax_id,
)

# The lifecycle. A client never goes back to potential; a former client can be won back.
TRANSITIONS: Mapping[ClientStatus, frozenset[ClientStatus]] = {
    ClientStatus.POTENTIAL: frozenset(
        {ClientStatus.ACTIVE, ClientStatus.PARTNER, ClientStatus.DEALER}
    ),
    ClientStatus.ACTIVE: frozenset(
        {ClientStatus.FORMER, ClientStatus.PARTNER, ClientStatus.DEALER}
    ),
    ClientStatus.PARTNER: frozenset({ClientStatus.ACTIVE, ClientStatus.FORMER}),
    ClientStatus.DEALER: frozenset({ClientStatus.ACTIVE, ClientStatus.FORMER}),
    ClientStatus.FORMER: frozenset({ClientStatus.ACTIVE}),
}

EDITABLE_CLIENT_FIELDS = (
    "kind",
    "name",
    "tax_id",
    "country",
    "field_of_activity",
    "region",
    "size",
    "tags",
    "website",
    "addresses",
)
EDITABLE_PERSON_FIELDS = (
    "name",
    "position",
    "department",
    "language",
    "channels",
    "preferred_channel",
)


@dataclass(frozen=True)
class Client:
    client_id: str
    kind: ClientKind
    name: str
    status: ClientStatus
    registered_at: datetime
    source: Source = field(default_factory=Source)
    registered_by: str | None = None
    tax_id: str | None = None
    country: str | None = None
    field_of_activity: FieldOfActivity | None = None
    region: str | None = None
    size: ClientSize | None = None
    tags: tuple[str, ...] = ()
    website: str | None = None
    addresses: tuple[Address, ...] = ()
    people: tuple[Person, ...] = ()
    curators: tuple[CuratorTerm, ...] = ()
    merged_into: str | None = None
    updated_at: datetime | None = None
    version: int = 1

    # -- queries --------------------------------------------------------------------------
    @property
    def curator_id(self) -> str | None:
        current = self.curators[-1] if self.curators else None
        return current.curator_id if current and current.ended_at is None else None

    def person(self, person_id: str) -> Person:
        for person in self.people:
            if person.person_id == person_id:
                return person
        raise PersonNotFound(f"client {self.client_id} has no person {person_id}")

    def live_person(self, person_id: str) -> Person:
        """The person, to change: an erased one is refused."""
        person = self.person(person_id)
        if person.erased_at is not None:
            raise PersonAlreadyErased(f"person {person_id} was erased", field="person_id")
        return person

    def own_keys(self) -> tuple[str, ...]:
        if self.details_erased:
            return ()
        return matching.client_keys(self.name, self.tax_id)

    @property
    def details_erased(self) -> bool:
        """A private person's client whose own details were erased with its person."""
        return self.name == ERASED

    def erase_details(self, *, now: datetime) -> tuple[Client, list[Fact]]:
        """A private person's client forgets its name (theirs), tax id, website and addresses;
        an organisation's details are no one's personal data and stay. Again: nothing."""
        if self.kind is not ClientKind.PERSON or self.details_erased:
            return self, []
        changed = tuple(
            name
            for name, kept in (
                ("name", self.name),
                ("tax_id", self.tax_id),
                ("website", self.website),
                ("addresses", self.addresses),
            )
            if kept
        )
        erased = replace(
            self,
            name=ERASED,
            tax_id=None,
            website=None,
            addresses=(),
            updated_at=now,
            version=self.version + 1,
        )
        return erased, [ClientUpdated(changed, None)]

    def match_keys(self) -> tuple[str, ...]:
        """Every key this client (and its people) can be matched by; none once merged."""
        if self.merged_into is not None:
            return ()
        keys = list(self.own_keys())
        for p in self.people:
            if p.erased_at is None:
                keys.extend(matching.person_keys(self.client_id, p.name, p.channels))
        return tuple(dict.fromkeys(keys))

    def ensure_live(self) -> None:
        if self.merged_into is not None:
            raise ClientAlreadyMerged(self.client_id, self.merged_into)

    # -- client ---------------------------------------------------------------------------
    def update(
        self, changes: Mapping[str, Any], *, now: datetime, by: str | None
    ) -> tuple[Client, list[Fact]]:
        """Apply the given fields; only fields whose value really changes count."""
        self.ensure_live()
        unknown = set(changes) - set(EDITABLE_CLIENT_FIELDS)
        if unknown:
            raise InvalidInputError(
                f"{sorted(unknown)[0]} cannot be changed here", field=sorted(unknown)[0]
            )
        values: dict[str, Any] = dict(changes)
        refusals = Refusals(InvalidInputError)
        if "name" in values:
            with refusals.check():
                values["name"] = clean_name(values["name"])
        if values.get("country"):
            values["country"] = values["country"].upper()
        if "tags" in values:
            values["tags"] = normalise_tags(values["tags"] or ())
        if "addresses" in values:
            values["addresses"] = tuple(values["addresses"] or ())
        if "tax_id" in values or "country" in values:
            with refusals.check():
                values["tax_id"] = normalise_tax_id(
                    values.get("tax_id", self.tax_id), values.get("country", self.country)
                )
        refusals.raise_if_any()
        changed = tuple(
            name
            for name in EDITABLE_CLIENT_FIELDS
            if name in values and values[name] != getattr(self, name)
        )
        if not changed:
            return self, []
        updated = replace(
            self,
            **{name: values[name] for name in changed},
            updated_at=now,
            version=self.version + 1,
        )
        return updated, [ClientUpdated(changed, by)]

    def change_status(
        self, to: ClientStatus, *, reason: str | None, now: datetime, by: str | None
    ) -> tuple[Client, list[Fact]]:
        self.ensure_live()
        if to not in TRANSITIONS[self.status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[self.status])) or "none"
            raise IllegalStatusChange(
                f"a {self.status.value} client cannot become {to.value} (allowed: {allowed})",
                field="status",
            )
        updated = replace(self, status=to, updated_at=now, version=self.version + 1)
        return updated, [StatusChanged(self.status, to, reason, by)]

    def assign_curator(
        self, curator_id: str, *, now: datetime, by: str | None
    ) -> tuple[Client, list[Fact]]:
        """Make ``curator_id`` (already checked to be an active sales employee) the curator."""
        self.ensure_live()
        previous = self.curator_id
        if previous == curator_id:
            raise AlreadyCurator(
                f"employee {curator_id} is already the curator of client {self.client_id}",
                field="employee_id",
            )
        history = list(self.curators)
        if history and history[-1].ended_at is None:
            history[-1] = replace(history[-1], ended_at=now)
        history.append(CuratorTerm(curator_id, now, by))
        updated = replace(self, curators=tuple(history), updated_at=now, version=self.version + 1)
        return updated, [CuratorAssigned(curator_id, previous, by)]

    # -- people ---------------------------------------------------------------------------
    def add_person(
        self,
        *,
        person_id: str,
        name: str,
        language: Language,
        channels: Channels,
        now: datetime,
        position: str | None = None,
        department: str | None = None,
        preferred_channel: Channel | None = None,
        consented: tuple[Channel, ...] = (),
        consent_source: str = "api",
    ) -> tuple[Client, list[Fact]]:
        self.ensure_live()
        refusals = Refusals(InvalidInputError)
        with refusals.check():
            check_preferred(channels, preferred_channel, field="preferred_channel")
        with refusals.check():
            name = clean_name(name)
        with refusals.check():
            consents = initial_consents(
                channels, consented, at=now, source=consent_source, field="consents"
            )
        refusals.raise_if_any()
        person = Person(
            person_id=person_id,
            name=name,
            language=language,
            channels=channels,
            added_at=now,
            position=position,
            department=department,
            preferred_channel=preferred_channel,
            consents=consents,
        )
        updated = replace(
            self, people=(*self.people, person), updated_at=now, version=self.version + 1
        )
        return updated, [PersonAdded(person_id)]

    def update_person(
        self, person_id: str, changes: Mapping[str, Any], *, now: datetime
    ) -> tuple[Client, list[Fact]]:
        self.ensure_live()
        person = self.live_person(person_id)
        values = dict(changes)
        refusals = Refusals(InvalidInputError)
        if "name" in values:
            with refusals.check():
                values["name"] = clean_name(values["name"])
        channels = values.get("channels", person.channels)
        preferred = values.get("preferred_channel", person.preferred_channel)
        with refusals.check():
            check_preferred(channels, preferred, field="preferred_channel")
        refusals.raise_if_any()
        changed = tuple(
            name
            for name in EDITABLE_PERSON_FIELDS
            if name in values and values[name] != getattr(person, name)
        )
        if not changed:
            return self, []
        new_person = replace(
            person,
            **{name: values[name] for name in changed},
            updated_at=now,
            version=person.version + 1,
        )
        return self._with_person(new_person, now), [PersonUpdated(person_id, changed)]

    def set_consent(
        self, person_id: str, channel: Channel, *, granted: bool, source: str, now: datetime
    ) -> tuple[Client, list[Fact]]:
        """Give or withdraw consent for one channel; the same answer again changes nothing.

        Withdrawing the preferred channel's consent also clears the preference, so that no
        sender ever picks a channel the person refused.
        """
        self.ensure_live()
        person = self.live_person(person_id)
        current = consent_for(person.consents, channel)
        if (current.granted if current else None) == granted:
            return self, []
        if granted and person.channels.address(channel) is None:
            raise ChannelWithoutAddress(
                f"person {person_id} has no {channel.value} address to consent to",
                field="channel",
            )
        consent = Consent(channel, granted, now, source)
        facts: list[Fact] = [ConsentChanged(person_id, consent)]
        new_person = replace(
            person, consents=with_consent(person.consents, consent), version=person.version + 1
        )
        if not granted and person.preferred_channel is channel:
            new_person = replace(new_person, preferred_channel=None, updated_at=now)
            facts.append(PersonUpdated(person_id, ("preferred_channel",)))
        return self._with_person(new_person, now), facts

    def erase_person(
        self, person_id: str, *, subjects: tuple[str, ...], now: datetime
    ) -> tuple[Client, list[Fact]]:
        """Forget everything about the person but their id, language and dates; an erased
        person again changes nothing. Allowed on a merged client too: its copy goes as well."""
        person = self.person(person_id)
        if person.erased_at is not None:
            return self, []
        forgotten = replace(
            person,
            name=ERASED,
            position=None,
            department=None,
            channels=Channels(),
            preferred_channel=None,
            consents=(),
            updated_at=now,
            erased_at=now,
            version=person.version + 1,
        )
        return self._with_person(forgotten, now), [PersonErased(person_id, subjects)]

    def _with_person(self, person: Person, now: datetime) -> Client:
        people = tuple(person if p.person_id == person.person_id else p for p in self.people)
        return replace(self, people=people, updated_at=now, version=self.version + 1)

    # -- merge ----------------------------------------------------------------------------
    def absorb(self, merged: Client, *, now: datetime) -> Client:
        """The survivor with the merged client's people, tags and addresses added."""
        self.ensure_live()
        merged.ensure_live()
        known = {p.person_id for p in self.people}
        people = (*self.people, *(p for p in merged.people if p.person_id not in known))
        return replace(
            self,
            people=people,
            tags=normalise_tags([*self.tags, *merged.tags]),
            addresses=(*self.addresses, *(a for a in merged.addresses if a not in self.addresses)),
            tax_id=self.tax_id or merged.tax_id,
            updated_at=now,
            version=self.version + 1,
        )

    def merged_into_survivor(self, survivor_id: str, *, now: datetime) -> Client:
        self.ensure_live()
        return replace(
            self, merged_into=survivor_id, people=(), updated_at=now, version=self.version + 1
        )


def register_client(
    *,
    client_id: str,
    kind: ClientKind,
    name: str,
    now: datetime,
    by: str | None = None,
    tax_id: str | None = None,
    country: str | None = None,
    field_of_activity: FieldOfActivity | None = None,
    region: str | None = None,
    size: ClientSize | None = None,
    tags: tuple[str, ...] = (),
    website: str | None = None,
    addresses: tuple[Address, ...] = (),
    source: Source | None = None,
) -> tuple[Client, list[Fact]]:
    """A new client always starts as a potential one."""
    refusals = Refusals(InvalidInputError)
    with refusals.check():
        name = clean_name(name)
    with refusals.check():
        tax_id = normalise_tax_id(tax_id, country)
    refusals.raise_if_any()
    client = Client(
        client_id=client_id,
        kind=kind,
        name=name,
        status=ClientStatus.POTENTIAL,
        registered_at=now,
        registered_by=by,
        tax_id=tax_id,
        country=country.upper() if country else None,
        field_of_activity=field_of_activity,
        region=region,
        size=size,
        tags=normalise_tags(tags),
        website=website,
        addresses=addresses,
        source=source or Source(),
    )
    return client, [ClientRegistered(by)]
