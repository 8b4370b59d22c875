"""Build the proposals service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from typing import ClassVar

import uvicorn
from crm_kit.app import ServiceSpec, create_app
from crm_kit.settings import ServiceSettings
from fastapi import FastAPI


class ProposalsSettings(ServiceSettings):
    service_name: ClassVar[str] = "proposals"
    http_port: int = 8003


SPEC = ServiceSpec(
    name="proposals",
    title="CRM proposals",
    description="Pre-contract work: catalogue, proposals, action plans under workflow, "
    "sales models and the hand-over of won deals to the back office (built in its own issue).",
)


def create(settings: ProposalsSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or ProposalsSettings())


def main() -> None:
    settings = ProposalsSettings()
    uvicorn.run(create(settings), host=settings.http_host, port=settings.http_port, log_config=None)
