"""Facts published by the contacts service on ``crm.contacts.v1``.

Client and person facts are keyed by the client id so that everything about one client
(registration, people, consent, contacts, merge) arrives in order; employee facts are keyed by
the employee id. State-carrying facts (``...Registered``, ``...Added``, ``...Updated``) hold the
whole current state and the aggregate ``version``, so a projection can simply replace its copy
when the version is newer.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent, ContractModel
from crm_contracts.common import Address, ChannelAddresses, ChannelConsent, FieldOfActivity
from crm_contracts.topics import CONTACTS
from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSize,
    ClientSourceKind,
    ClientStatus,
    ContactDirection,
    ContactKind,
    Department,
    Id,
    Language,
    UtcDatetime,
)


class ContactsEvent(ContractEvent):
    """Base of the contacts service's events."""

    topic: ClassVar[str] = CONTACTS


class ClientSource(ContractModel):
    """Where a client came from."""

    kind: ClientSourceKind
    event_id: Id | None = None
    """The marketing event, when the client came from one."""
    programme_id: Id | None = None
    questionnaire_response_id: Id | None = None
    note: str | None = None


class _ClientState(ContactsEvent):
    client_id: Id
    kind: ClientKind
    name: str
    status: ClientStatus
    tax_id: str | None = None
    country: str | None = None
    """ISO 3166-1 alpha-2; the tax id format is validated where it is known."""
    field_of_activity: FieldOfActivity | None = None
    region: str | None = None
    size: ClientSize | None = None
    tags: tuple[str, ...] = ()
    """Free tags; with status, field of activity, region and size they form the portrait."""
    website: str | None = None
    addresses: tuple[Address, ...] = ()
    source: ClientSource
    version: int = Field(ge=1)
    """The client's version after this change; projections ignore an older one."""

    def aggregate_key(self) -> str:
        return self.client_id


class ClientRegistered(_ClientState):
    """A client (organisation or private person) was registered, with its full portrait.

    Consumed by campaigns (portrait projection for participant selection), proposals (clients
    a proposal may be made to), notify (client names in messages) and contacts' timeline.

    Schema version 2: a private person's (``kind`` ``person``) name, tax id, website and
    addresses travel sealed under the client's key (``crm_contracts.personal``).
    """

    event_type: ClassVar[str] = "ClientRegistered"
    schema_version: ClassVar[int] = 2
    registered_at: UtcDatetime
    registered_by: Id | None = None
    """The employee who registered it; ``None`` when registered by the system."""


class ClientUpdated(_ClientState):
    """A client's details changed; carries the whole new state and which fields changed.

    The status never changes here (see ``ClientStatusChanged``). Consumed by campaigns,
    proposals and notify to refresh their projections. Erasing a private person's client
    publishes one with the details erased. Schema version 2: sealed as ``ClientRegistered``.
    """

    event_type: ClassVar[str] = "ClientUpdated"
    schema_version: ClassVar[int] = 2
    changed_fields: tuple[str, ...]
    updated_at: UtcDatetime
    updated_by: Id | None = None


class ClientStatusChanged(ContactsEvent):
    """A client moved along its lifecycle (potential → active → former; partner; dealer).

    Consumed by campaigns (portrait selection by status) and proposals.
    """

    event_type: ClassVar[str] = "ClientStatusChanged"
    client_id: Id
    from_status: ClientStatus
    to_status: ClientStatus
    reason: str | None = None
    changed_at: UtcDatetime
    changed_by: Id | None = None
    version: int = Field(ge=1)

    def aggregate_key(self) -> str:
        return self.client_id


class _PersonState(ContactsEvent):
    client_id: Id
    person_id: Id
    name: str
    position: str | None = None
    department: str | None = None
    """The person's department at the client, as free text."""
    language: Language
    channels: ChannelAddresses
    preferred_channel: Channel | None = None
    version: int = Field(ge=1)

    def aggregate_key(self) -> str:
        return self.client_id


class PersonAdded(_PersonState):
    """A person was added to a client, with channels, preferred channel and consents.

    Consumed by campaigns (participants) and notify (where and in which language to write,
    and whether it may).

    Schema version 2: ``name``, ``position`` and the channel addresses travel
    sealed under the person's key (``crm_contracts.personal``).
    """

    event_type: ClassVar[str] = "PersonAdded"
    schema_version: ClassVar[int] = 2
    consents: tuple[ChannelConsent, ...] = ()
    """Consent per channel as given at registration; later changes are ``ConsentChanged``."""
    added_at: UtcDatetime


class PersonUpdated(_PersonState):
    """A person's details changed; carries the whole new state except consent.

    Consent changes only through ``ConsentChanged``. Consumed by campaigns and notify.

    Schema version 2: the personal fields travel sealed, as in ``PersonAdded``.
    """

    event_type: ClassVar[str] = "PersonUpdated"
    schema_version: ClassVar[int] = 2
    changed_fields: tuple[str, ...]
    updated_at: UtcDatetime


class ConsentChanged(ContactsEvent):
    """A person gave or withdrew consent to be contacted through one channel.

    Consumed by notify, which must never use a withdrawn channel, and by campaigns (portrait
    selection needs at least one consented channel).
    """

    event_type: ClassVar[str] = "ConsentChanged"
    client_id: Id
    person_id: Id
    channel: Channel
    granted: bool
    at: UtcDatetime
    source: str
    """``api``, ``questionnaire``, ``import``, ``unsubscribe_link``..."""

    def aggregate_key(self) -> str:
        return self.client_id


class PersonErased(ContactsEvent):
    """A client's person was erased on their request (or with their whole client).

    Contacts kept the person's id and forgot everything else about them; their data keys are
    destroyed, so their sealed fields in earlier events read as erased. Every service that
    keeps a copy of the person (projections, questionnaire responses, delivery logs, proposal
    contacts) forgets it on this fact. Erasing an erased person publishes nothing again.
    """

    event_type: ClassVar[str] = "PersonErased"
    client_id: Id
    person_id: Id
    erased_at: UtcDatetime
    subjects: tuple[str, ...] = ()
    """The key vault subjects whose keys were destroyed (``person:<id>``, ``response:<id>``)."""

    def aggregate_key(self) -> str:
        return self.client_id


class _EmployeeState(ContactsEvent):
    employee_id: Id
    name: str
    department: Department
    role: str
    """The role within the department, e.g. ``manager``, ``analyst``."""
    language: Language = Language.RU
    channels: ChannelAddresses
    preferred_channel: Channel | None = None
    active: bool
    version: int = Field(ge=1)

    def aggregate_key(self) -> str:
        return self.employee_id


class EmployeeRegistered(_EmployeeState):
    """An employee of the company was registered.

    Consumed by campaigns (responsible staff, task assignees), proposals (curators, step
    assignees) and notify (where to send staff notifications).
    """

    event_type: ClassVar[str] = "EmployeeRegistered"
    registered_at: UtcDatetime


class EmployeeUpdated(_EmployeeState):
    """An employee's details changed (department, role, channels, active flag); whole state.

    Consumed by the same services as ``EmployeeRegistered``.
    """

    event_type: ClassVar[str] = "EmployeeUpdated"
    changed_fields: tuple[str, ...]
    updated_at: UtcDatetime


class CuratorAssigned(ContactsEvent):
    """An active sales employee became the curator of a client (first time or reassignment).

    Consumed by notify (tell the new curator) and proposals (the default curator of proposals).
    Schema version 2: ``client_name`` travels sealed under the client's key.
    """

    event_type: ClassVar[str] = "CuratorAssigned"
    schema_version: ClassVar[int] = 2
    client_id: Id
    client_name: str
    curator_id: Id
    """The employee id of the new curator."""
    previous_curator_id: Id | None = None
    assigned_by: Id | None = None
    assigned_at: UtcDatetime

    def aggregate_key(self) -> str:
        return self.client_id


SYSTEM_EMPLOYEE_ID = "system"
"""The ``employee_id`` of a contact record contacts made itself, not an employee: the record of a
known respondent's questionnaire answer."""


class ContactRecorded(ContactsEvent):
    """An employee of any department recorded a contact with a client.

    ``event_id`` links it to a marketing event (campaigns infers attendance and counts contact
    records), ``proposal_id`` to a proposal (proposals shows it in the proposal's history).
    A record whose ``employee_id`` is ``SYSTEM_EMPLOYEE_ID`` ("system") stands for a
    questionnaire answer, which ``QuestionnaireSubmitted`` already reported: campaigns does not
    count it as a manager's contact record nor its needs a second time.
    """

    event_type: ClassVar[str] = "ContactRecorded"
    contact_id: Id
    client_id: Id
    person_id: Id | None = None
    employee_id: Id
    kind: ContactKind
    direction: ContactDirection
    occurred_at: UtcDatetime
    summary: str
    outcome: str | None = None
    need_item_codes: tuple[str, ...] = ()
    """Catalogue codes of the goods and services the contact revealed a need for."""
    need_tags: tuple[str, ...] = ()
    """Free-text needs that map to no catalogue item."""
    event_id: Id | None = None
    proposal_id: Id | None = None
    recorded_at: UtcDatetime

    def aggregate_key(self) -> str:
        return self.client_id


class ClientsMerged(ContactsEvent):
    """A duplicate client was merged into a surviving one; its people and contacts moved.

    The merged id keeps pointing at the survivor. Keyed by the merged client's id, so this is
    the last fact about it. Consumed by every projection of clients.
    """

    event_type: ClassVar[str] = "ClientsMerged"
    survivor_client_id: Id
    merged_client_id: Id
    moved_person_ids: tuple[Id, ...] = ()
    moved_contact_ids: tuple[Id, ...] = ()
    merged_at: UtcDatetime
    merged_by: Id | None = None

    def aggregate_key(self) -> str:
        return self.merged_client_id


class ClientExpired(ContactsEvent):
    """A prospect that never became a client reached the end of its retention period.

    A client still ``potential`` (it never became active, partner or dealer: a client never
    goes back to potential) with no activity for the retention period of the contacts service
    (``prospect_retention_days``, docs/retention.md) was deleted there with its people, its
    contact records and the clients merged into it. Keyed by the client's id, so this is the
    last fact about it. Every copy of the client and of its people elsewhere is deleted on
    this fact; a replay of the topic ends with the same deletion.
    """

    event_type: ClassVar[str] = "ClientExpired"
    client_id: Id
    person_ids: tuple[Id, ...] = ()
    contact_ids: tuple[Id, ...] = ()
    merged_client_ids: tuple[Id, ...] = ()
    """Clients merged into this one earlier, deleted with it."""
    last_activity_at: UtcDatetime
    """The latest of its registration, its last change and the facts on its timeline."""
    retention_days: int = Field(ge=1)
    expired_at: UtcDatetime

    def aggregate_key(self) -> str:
        return self.client_id
