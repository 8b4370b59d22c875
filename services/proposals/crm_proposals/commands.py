"""What callers ask the proposals service to do (imperative names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from crm_contracts.values import CatalogItemKind, ProposalStatus

from crm_proposals.domain.plan import ModelStep, StepSpec
from crm_proposals.domain.pricing import Discount
from crm_proposals.domain.proposal import Participant


@dataclass(frozen=True)
class Caller:
    subject: str
    admin: bool = False
    employee_id: str | None = None
    """The employee of contacts the caller is (None: an app on its own account)."""
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DefineCatalogItem:
    code: str
    name: str
    kind: CatalogItemKind
    unit: str
    list_price_minor: int
    currency: str
    active: bool = True


@dataclass(frozen=True)
class ChangeCatalogItem:
    item: DefineCatalogItem
    expected_version: int


@dataclass(frozen=True)
class RequestLine:
    item_code: str
    quantity: int
    unit_price_minor: int | None = None
    unit_price_currency: str | None = None
    discount: Discount | None = None
    discount_currency: str | None = None


@dataclass(frozen=True)
class RegisterProposal:
    client_id: str
    title: str
    lines: tuple[RequestLine, ...]
    curator_id: str | None = None
    preferences: str | None = None
    currency: str | None = None
    valid_until: date | None = None
    participants: tuple[Participant, ...] = ()


@dataclass(frozen=True)
class ReviseProposal:
    proposal_id: str
    expected_version: int
    lines: tuple[RequestLine, ...]
    title: str | None = None
    preferences: str | None = None
    valid_until: date | None = None
    participants: tuple[Participant, ...] | None = None
    reason: str | None = None


@dataclass(frozen=True)
class EditDraft:
    """Change a draft in place; only the fields named in ``changed`` are taken."""

    proposal_id: str
    expected_version: int
    changed: frozenset[str]
    title: str | None = None
    preferences: str | None = None
    valid_until: date | None = None
    lines: tuple[RequestLine, ...] | None = None
    participants: tuple[Participant, ...] | None = None


@dataclass(frozen=True)
class ChangeStatus:
    proposal_id: str
    expected_version: int
    status: ProposalStatus
    reason: str | None = None
    competitor: str | None = None


@dataclass(frozen=True)
class GeneratePlan:
    proposal_id: str
    expected_version: int
    sales_model_id: str | None = None
    steps: tuple[StepSpec, ...] | None = None
    starts_on: date | None = None
    assignees: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AddStep:
    proposal_id: str
    expected_version: int
    step: StepSpec


@dataclass(frozen=True)
class ActOnStep:
    step_id: str
    expected_version: int
    action: str
    """start, complete, skip, block or unblock."""
    reason: str | None = None


@dataclass(frozen=True)
class AssignStep:
    step_id: str
    expected_version: int
    assignee_id: str
    due_on: date | None = None


@dataclass(frozen=True)
class DefineSalesModel:
    name: str
    steps: tuple[ModelStep, ...]
    description: str | None = None


@dataclass(frozen=True)
class AddModelVersion:
    model_id: str
    expected_version: int
    steps: tuple[ModelStep, ...]


@dataclass(frozen=True)
class PublishSalesModel:
    model_id: str
    expected_version: int
    version: int | None = None
