"""Build the campaigns service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from typing import ClassVar

import uvicorn
from crm_kit.app import ServiceSpec, create_app
from crm_kit.settings import ServiceSettings
from fastapi import FastAPI

from crm_campaigns import api
from crm_campaigns.consumers import SUBSCRIPTIONS
from crm_campaigns.projections import create_indexes


class CampaignsSettings(ServiceSettings):
    service_name: ClassVar[str] = "campaigns"
    http_port: int = 8002


SPEC = ServiceSpec(
    name="campaigns",
    title="CRM campaigns",
    description="Attracting clients: programmes, the plan-schedule of marketing events, "
    "preparation tasks, participants, questionnaires and effectiveness.",
    routers=[api.router],
    subscriptions=SUBSCRIPTIONS,
    indexes=create_indexes,
)


def create(settings: CampaignsSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or CampaignsSettings())


def main() -> None:
    settings = CampaignsSettings()
    uvicorn.run(create(settings), host=settings.http_host, port=settings.http_port, log_config=None)
