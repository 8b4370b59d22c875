"""Build the notify service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from typing import ClassVar

import uvicorn
from crm_kit.app import ServiceSpec, create_app
from crm_kit.settings import ServiceSettings
from fastapi import FastAPI


class NotifySettings(ServiceSettings):
    service_name: ClassVar[str] = "notify"
    http_port: int = 8004


SPEC = ServiceSpec(
    name="notify",
    title="CRM notify",
    description="Delivery of invitations and staff notifications by e-mail, SMS, pager and fax "
    "(built in its own issue).",
)


def create(settings: NotifySettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or NotifySettings())


def main() -> None:
    settings = NotifySettings()
    uvicorn.run(create(settings), host=settings.http_host, port=settings.http_port, log_config=None)
