"""Build the notify service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from crm_contracts.campaigns import (
    EventCancelled,
    EventRescheduled,
    InvitationRequested,
    TaskAssigned,
    TaskCancelled,
    TaskCompleted,
)
from crm_contracts.contacts import (
    ConsentChanged,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.proposals import PlanStepAssigned
from crm_contracts.topics import CAMPAIGNS, CONTACTS, PROPOSALS
from crm_kit.app import ServiceSpec, Subscription, create_app, serve
from fastapi import FastAPI

from crm_notify import api, handlers
from crm_notify.domain import IdempotencyKeyReused, NotifyError
from crm_notify.repository import create_indexes
from crm_notify.settings import NotifySettings
from crm_notify.worker import run_delivery

__all__ = ["SPEC", "NotifySettings", "create", "main"]

SPEC = ServiceSpec(
    name="notify",
    title="CRM notify",
    description="Delivery of invitations and staff notifications by e-mail, SMS, pager and fax, "
    "from templates per kind and language, honouring consent and the preferred channel.",
    routers=[api.router],
    subscriptions=[
        Subscription(
            topics=(CONTACTS, CAMPAIGNS, PROPOSALS),
            handlers={
                PersonAdded: handlers.on_person,
                PersonUpdated: handlers.on_person,
                ConsentChanged: handlers.on_consent,
                EmployeeRegistered: handlers.on_employee,
                EmployeeUpdated: handlers.on_employee,
                CuratorAssigned: handlers.on_curator_assigned,
                InvitationRequested: handlers.on_invitation_requested,
                TaskAssigned: handlers.on_task_assigned,
                TaskCompleted: handlers.on_task_completed,
                TaskCancelled: handlers.on_task_cancelled,
                EventRescheduled: handlers.on_event_rescheduled,
                EventCancelled: handlers.on_event_cancelled,
                PlanStepAssigned: handlers.on_plan_step_assigned,
            },
            # A campaign's invitations share its Kafka key, so they arrive together in one
            # lane: stored with one insert per consumer batch instead of one per event.
            batch_handlers={InvitationRequested: handlers.on_invitations_requested},
            description="Requests to notify, and the projection of people and employees.",
        )
    ],
    produces=[NotificationDelivered, NotificationFailed],
    indexes=create_indexes,
    domain_errors={NotifyError: 422, IdempotencyKeyReused: 409},
    workers=[run_delivery],
)


def create(settings: NotifySettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or NotifySettings())


def main() -> None:
    settings = NotifySettings()
    serve(create(settings), settings)
