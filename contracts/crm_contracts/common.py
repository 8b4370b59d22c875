"""Value objects carried by events of more than one service."""

from __future__ import annotations

from crm_contracts.base import ContractModel
from crm_contracts.values import Channel, Id, RecipientKind, UtcDatetime


class ChannelAddresses(ContractModel):
    """A person's or employee's addresses per channel, already validated and normalised."""

    email: str | None = None
    """Lower-cased e-mail address."""
    phone: str | None = None
    """Phone number in E.164, e.g. ``+74951234567``."""
    mobile: str | None = None
    """Mobile number in E.164; SMS goes here."""
    fax: str | None = None
    """Fax number in E.164."""
    pager: str | None = None
    """Pager number or subscriber id as the pager gateway expects it."""

    def address(self, channel: Channel) -> str | None:
        """The address for ``channel``, or ``None`` if the person has none."""
        value: str | None = getattr(self, channel.value)
        return value


class ChannelConsent(ContractModel):
    """Whether a person agrees to be contacted through one channel, since when, and why."""

    channel: Channel
    granted: bool
    at: UtcDatetime
    source: str
    """Where the consent or its withdrawal came from: ``api``, ``questionnaire``, ``import``,
    ``unsubscribe_link``..."""


class FieldOfActivity(ContractModel):
    """A client's field of activity: a classifier code and its human-readable label."""

    code: str
    label: str


class Address(ContractModel):
    """A postal address, kept as the operator typed it."""

    kind: str = "legal"
    """``legal``, ``postal``, ``delivery`` or another label the operator chose."""
    text: str
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None
    """ISO 3166-1 alpha-2 code."""


class Recipient(ContractModel):
    """Who a message is for: a client's person, an employee, or a bare address (ad-hoc sends)."""

    kind: RecipientKind
    id: str
    """The person id, the employee id, or the address itself for kind ``address``."""
    client_id: Id | None = None
    """The client the person belongs to (kind ``person``)."""


class Place(ContractModel):
    """Where a marketing event happens: a venue and address, an online link, or both."""

    venue: str | None = None
    address: str | None = None
    online_url: str | None = None
