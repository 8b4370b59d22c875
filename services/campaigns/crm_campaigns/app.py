"""Build the campaigns service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from crm_contracts import campaigns as facts
from crm_kit import personal_data
from crm_kit.app import ServiceSpec, create_app, serve
from fastapi import FastAPI

from crm_campaigns.api import (
    audience,
    participants,
    planning,
    preparation,
    public,
    questionnaire_results,
    questionnaires,
    reports,
)
from crm_campaigns.consumers import SUBSCRIPTIONS
from crm_campaigns.domain.errors import CampaignsError, Missing, StateConflict
from crm_campaigns.handlers import personal
from crm_campaigns.handlers.invitations import invitation_worker
from crm_campaigns.handlers.retention import retention_worker
from crm_campaigns.projections import CLIENTS
from crm_campaigns.projections.people import CATALOG, EMPLOYEES, PEOPLE
from crm_campaigns.repository.indexes import create_indexes
from crm_campaigns.settings import CampaignsSettings

PRODUCES = [
    cls
    for cls in vars(facts).values()
    if isinstance(cls, type)
    and issubclass(cls, facts.CampaignsEvent)
    and "event_type" in cls.__dict__
]

SPEC = ServiceSpec(
    name="campaigns",
    title="CRM campaigns",
    description="Attracting clients: programmes, the plan-schedule of marketing events, "
    "preparation tasks, participants, questionnaires and effectiveness.",
    routers=[
        audience.router,
        planning.router,
        preparation.router,
        participants.router,
        public.router,
        questionnaires.router,
        questionnaire_results.router,
        reports.router,
        personal_data.router("campaigns", personal.personal_data),
    ],
    workers=[invitation_worker, retention_worker],
    produces=PRODUCES,
    domain_errors={CampaignsError: 422, StateConflict: 409, Missing: 404},
    # Copies of contacts' clients, people (with consent) and employees and of proposals'
    # catalogue, written only by the consumer from their facts, newest version (or latest
    # consent) winning. Participants, counters, contact records, needs and new clients move on
    # other services' facts too, but over events and participants the API writes: not these.
    projections=[CLIENTS, PEOPLE, EMPLOYEES, CATALOG],
    subscriptions=SUBSCRIPTIONS,
    indexes=create_indexes,
)


def create(settings: CampaignsSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or CampaignsSettings())


def main() -> None:
    settings = CampaignsSettings()
    serve(create(settings), settings)
