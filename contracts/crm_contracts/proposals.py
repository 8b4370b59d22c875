"""Facts published by the proposals service on ``crm.proposals.v1``.

Proposal facts (revisions, plan, steps, outcome) are keyed by the proposal id; catalogue facts
by the item code; sales model facts by the model id.
"""

from __future__ import annotations

from datetime import date
from typing import ClassVar

from pydantic import Field

from crm_contracts.base import ContractEvent
from crm_contracts.common import Address
from crm_contracts.money import Money
from crm_contracts.proposal_parts import (
    ClientContact,
    PlanStep,
    PricedLines,
    ProposalParticipant,
    SalesModelStep,
)
from crm_contracts.topics import PROPOSALS
from crm_contracts.values import (
    CatalogItemKind,
    ClientKind,
    Id,
    PlanOrigin,
    ProposalStatus,
    SalesModelOrigin,
    StepOutcome,
    UtcDatetime,
)


class ProposalsEvent(ContractEvent):
    """Base of the proposals service's events."""

    topic: ClassVar[str] = PROPOSALS


class _ProposalFact(ProposalsEvent):
    proposal_id: Id

    def aggregate_key(self) -> str:
        return self.proposal_id


class CatalogItemChanged(ProposalsEvent):
    """A catalogue item was created or changed (name, unit, list price, active flag).

    Consumed by campaigns, which maps product interests and promoted items to the catalogue.
    """

    event_type: ClassVar[str] = "CatalogItemChanged"
    code: str
    name: str
    kind: CatalogItemKind
    unit: str
    list_price: Money
    active: bool
    changed_at: UtcDatetime
    version: int = Field(ge=1)

    def aggregate_key(self) -> str:
        return self.code


class ProposalRegistered(_ProposalFact, PricedLines):
    """A proposal to a client was registered (revision 1).

    Consumed by contacts' timeline.
    """

    event_type: ClassVar[str] = "ProposalRegistered"
    revision: int = Field(ge=1)
    client_id: Id
    curator_id: Id
    title: str
    preferences: str | None = None
    """The client's stated preferences, as free text."""
    status: ProposalStatus
    valid_until: date | None = None
    participants: tuple[ProposalParticipant, ...] = ()
    registered_at: UtcDatetime


class ProposalRevised(_ProposalFact, PricedLines):
    """A presented proposal was revised: a new revision with its own lines and totals.

    Earlier revisions stay as they were. Consumed by contacts' timeline.
    """

    event_type: ClassVar[str] = "ProposalRevised"
    revision: int = Field(ge=2)
    client_id: Id
    title: str
    preferences: str | None = None
    valid_until: date | None = None
    reason: str | None = None
    revised_at: UtcDatetime


class ProposalDraftEdited(_ProposalFact, PricedLines):
    """A draft proposal, not yet shown to the client, was edited in place.

    Its revision stays the same (1): a draft may change freely until it is presented, and every
    change after that is a new revision (``ProposalRevised``). Carries the whole edited content;
    ``changed_fields`` names what the edit asked to change.
    """

    event_type: ClassVar[str] = "ProposalDraftEdited"
    revision: int = Field(ge=1)
    client_id: Id
    curator_id: Id
    title: str
    preferences: str | None = None
    valid_until: date | None = None
    participants: tuple[ProposalParticipant, ...] = ()
    changed_fields: tuple[str, ...] = ()
    edited_at: UtcDatetime


class ProposalStatusChanged(_ProposalFact):
    """A proposal moved between draft, presented and negotiation (or was withdrawn).

    Won and lost have their own facts. Consumed by contacts' timeline.

    Schema version 2 added ``version``.
    """

    event_type: ClassVar[str] = "ProposalStatusChanged"
    schema_version: ClassVar[int] = 2
    client_id: Id
    from_status: ProposalStatus
    to_status: ProposalStatus
    changed_at: UtcDatetime
    version: int | None = Field(default=None, ge=1)
    """The proposal's version after this move (``None`` in messages of schema version 1)."""


class PlanGenerated(_ProposalFact):
    """A proposal got an action plan, generated from a sales model or entered by hand.

    A new plan replaces the previous one. Consumed by proposals' own analytics.
    """

    event_type: ClassVar[str] = "PlanGenerated"
    plan_id: Id
    client_id: Id
    origin: PlanOrigin
    sales_model_id: Id | None = None
    sales_model_version: int | None = None
    steps: tuple[PlanStep, ...]
    generated_at: UtcDatetime


class PlanStepAssigned(_ProposalFact):
    """A plan step was given to an employee of any department.

    Consumed by notify, which tells the assignee (step, due date and proposal are here).
    Schema version 2: ``client_name`` travels sealed under the client's key.
    """

    event_type: ClassVar[str] = "PlanStepAssigned"
    schema_version: ClassVar[int] = 2
    plan_id: Id
    step_id: Id
    title: str
    proposal_title: str
    client_id: Id
    client_name: str | None = None
    assignee_id: Id
    """The employee id of the assignee."""
    previous_assignee_id: Id | None = None
    due_on: date | None = None
    approval: bool = False
    assigned_at: UtcDatetime


class PlanStepCompleted(_ProposalFact):
    """A plan step was done or skipped; the start and end times feed sales model mining."""

    event_type: ClassVar[str] = "PlanStepCompleted"
    plan_id: Id
    step_id: Id
    title: str
    model_step_id: Id | None = None
    outcome: StepOutcome
    completed_by: Id | None = None
    started_at: UtcDatetime | None = None
    completed_at: UtcDatetime


class ProposalWon(_ProposalFact, PricedLines):
    """The client accepted the proposal: the hand-over to the back office.

    Carries everything logistics and finance need to open a contract without asking anyone:
    the proposal's version and the accepted revision, the client with its legal details (tax
    id, country, legal address) and contact person, the curator, the accepted revision's lines
    with quantities and prices, the totals and the currency. The client's details are the
    proposals service's copy of contacts' facts at the moment of the win; a field contacts has
    no value for is ``None``. Consumed by the back office and contacts' timeline.

    Schema version 2 added ``version``, ``client_kind``, ``client_tax_id``,
    ``client_country``, ``client_legal_address`` and ``client_contact``. Schema version 3: the
    contact person's name, position and addresses travel sealed under the person's key
    and, for a private person (``client_kind`` ``person``), the client's name, tax id and legal
    address (``crm_contracts.personal``); the back office unseals them with the key vault.
    """

    event_type: ClassVar[str] = "ProposalWon"
    schema_version: ClassVar[int] = 3
    revision: int = Field(ge=1)
    """The revision the client accepted."""
    version: int | None = Field(default=None, ge=1)
    """The proposal's version after the win (``None`` in messages of schema version 1)."""
    client_id: Id
    client_name: str | None = None
    client_kind: ClientKind | None = None
    """An organisation or a private person."""
    client_tax_id: str | None = None
    """The client's tax id (INN, BIN, UNP...) as contacts normalised it."""
    client_country: str | None = None
    """ISO 3166-1 alpha-2 code of the client's country."""
    client_legal_address: Address | None = None
    """The client's legal address (kind ``legal``), else its first address on record."""
    client_contact: ClientContact | None = None
    """Whom the back office contacts on the client's side."""
    curator_id: Id
    """The employee id of the client's curator."""
    title: str
    valid_until: date | None = None
    won_at: UtcDatetime


class ProposalLost(_ProposalFact):
    """The client turned the proposal down. Consumed by contacts' timeline and mining.

    Schema version 2 added ``version``.
    """

    event_type: ClassVar[str] = "ProposalLost"
    schema_version: ClassVar[int] = 2
    revision: int = Field(ge=1)
    version: int | None = Field(default=None, ge=1)
    """The proposal's version after the loss (``None`` in messages of schema version 1)."""
    client_id: Id
    curator_id: Id
    reason: str
    competitor: str | None = None
    lost_at: UtcDatetime


class SalesModelPublished(ProposalsEvent):
    """A sales model version was published; new plans may be generated from it."""

    event_type: ClassVar[str] = "SalesModelPublished"
    model_id: Id
    version: int = Field(ge=1)
    """The model's version, not the schema's."""
    name: str
    description: str | None = None
    origin: SalesModelOrigin
    deals_count: int | None = Field(default=None, ge=0)
    """For a mined model: how many won deals it was mined from."""
    steps: tuple[SalesModelStep, ...]
    published_by: Id | None = None
    published_at: UtcDatetime

    def aggregate_key(self) -> str:
        return self.model_id
