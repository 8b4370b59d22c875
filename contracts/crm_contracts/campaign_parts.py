"""Value objects nested in the campaigns service's events."""

from __future__ import annotations

from crm_contracts.base import ContractModel
from crm_contracts.common import ChannelAddresses
from crm_contracts.values import (
    Channel,
    ClientSize,
    ClientStatus,
    Id,
    Language,
    ParticipantRole,
    ParticipantStatus,
    QuestionKind,
    RecipientKind,
)


class Portrait(ContractModel):
    """The target clients of a programme: a filter over the contacts projection.

    An empty tuple means "any"; all non-empty criteria must hold.
    """

    statuses: tuple[ClientStatus, ...] = ()
    field_of_activity_codes: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    sizes: tuple[ClientSize, ...] = ()
    tags: tuple[str, ...] = ()


class Participant(ContractModel):
    """One participant of a marketing event."""

    participant_id: Id
    kind: RecipientKind
    """``person`` (a client's, partner's or dealer's person) or ``employee``."""
    person_id: Id | None = None
    client_id: Id | None = None
    employee_id: Id | None = None
    role: ParticipantRole
    status: ParticipantStatus = ParticipantStatus.PLANNED


class Respondent(ContractModel):
    """Who answered a questionnaire: a known person, or the details they wrote down."""

    person_id: Id | None = None
    client_id: Id | None = None
    name: str | None = None
    organisation: str | None = None
    position: str | None = None
    language: Language | None = None
    channels: ChannelAddresses = ChannelAddresses()
    consented_channels: tuple[Channel, ...] = ()
    """Channels the respondent agreed to be contacted through in the questionnaire."""


class Answer(ContractModel):
    """The answer to one question of a questionnaire."""

    question_id: Id
    question: str
    kind: QuestionKind
    choices: tuple[str, ...] = ()
    scale: int | None = None
    """1 to 5 for a scale question."""
    text: str | None = None
    item_codes: tuple[str, ...] = ()
    """Catalogue codes chosen in a product-interest question."""
