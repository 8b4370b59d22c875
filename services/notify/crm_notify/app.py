"""Build the notify service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from crm_contracts.notify import NotificationDelivered, NotificationFailed, UnsubscribeRequested
from crm_kit.app import ServiceSpec, create_app, serve
from fastapi import FastAPI

from crm_notify import api
from crm_notify.consumers import SUBSCRIPTIONS
from crm_notify.domain import IdempotencyKeyReused, NotifyError
from crm_notify.links import InvalidUnsubscribeLink
from crm_notify.repository import RECIPIENTS, TASKS
from crm_notify.repository.indexes import create_indexes
from crm_notify.settings import NotifySettings
from crm_notify.worker import run_delivery

__all__ = ["SPEC", "NotifySettings", "create", "main"]

SPEC = ServiceSpec(
    name="notify",
    title="CRM notify",
    description="Delivery of invitations and staff notifications by e-mail, SMS, pager and fax, "
    "from templates per kind and language, honouring consent and the preferred channel.",
    routers=api.ROUTERS,
    # Who notify can reach (contacts' people and employees, newest version and latest consent
    # per channel winning) and the open tasks of each event (campaigns' task facts): written
    # by the consumer, and by an unsubscribe link only ahead of the ConsentChanged that
    # contacts then publishes, which sets the same. Notifications are not: the API queues
    # ad-hoc ones, the worker moves their delivery state on the clock, and ``event_invitees``
    # is only read (legacy).
    projections=[RECIPIENTS, TASKS],
    subscriptions=SUBSCRIPTIONS,
    produces=[NotificationDelivered, NotificationFailed, UnsubscribeRequested],
    indexes=create_indexes,
    domain_errors={NotifyError: 422, IdempotencyKeyReused: 409, InvalidUnsubscribeLink: 404},
    workers=[run_delivery],
    retention=NotifySettings.retention,
)


def create(settings: NotifySettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or NotifySettings())


def main() -> None:
    settings = NotifySettings()
    serve(create(settings), settings)
