"""Build the proposals service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from crm_contracts.proposals import (
    CatalogItemChanged,
    PlanGenerated,
    PlanStepAssigned,
    PlanStepCompleted,
    ProposalDraftEdited,
    ProposalLost,
    ProposalRegistered,
    ProposalRevised,
    ProposalStatusChanged,
    ProposalWon,
    SalesModelPublished,
)
from crm_kit.app import ServiceSpec, create_app, serve
from fastapi import FastAPI

from crm_proposals.api import ROUTERS
from crm_proposals.consumers import SUBSCRIPTIONS
from crm_proposals.domain.errors import (
    DependencyCycle,
    InvalidValue,
    ProposalsError,
    StateConflict,
    UnknownReference,
)
from crm_proposals.repository import (
    BACK_OFFICE,
    CLIENTS,
    EMPLOYEES,
    PEOPLE,
    PROPOSAL_CONTACTS,
    create_indexes,
)
from crm_proposals.settings import ProposalsSettings

__all__ = ["SPEC", "ProposalsSettings", "create", "main"]

SPEC = ServiceSpec(
    name="proposals",
    title="CRM proposals",
    description="Pre-contract work: catalogue, proposals with revisions, action plans under "
    "workflow, sales models (kept and mined), and the hand-over of won deals to the back office "
    "(ProposalWon carries client, curator, lines, totals and currency).\n\n"
    "Money is `amount_minor` (an integer, minor units) with its `currency`. Contracts only "
    "grow: ignore fields you do not know.",
    routers=ROUTERS,
    projections=[CLIENTS, EMPLOYEES, PEOPLE, PROPOSAL_CONTACTS, BACK_OFFICE],
    subscriptions=SUBSCRIPTIONS,
    produces=[
        CatalogItemChanged,
        ProposalRegistered,
        ProposalDraftEdited,
        ProposalRevised,
        ProposalStatusChanged,
        PlanGenerated,
        PlanStepAssigned,
        PlanStepCompleted,
        ProposalWon,
        ProposalLost,
        SalesModelPublished,
    ],
    indexes=create_indexes,
    domain_errors={
        ProposalsError: 422,
        InvalidValue: 422,
        UnknownReference: 422,
        DependencyCycle: 422,
        StateConflict: 409,
    },
)


def create(settings: ProposalsSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or ProposalsSettings())


def main() -> None:
    settings = ProposalsSettings()
    serve(create(settings), settings)
