"""What notify listens to: thin subscriptions mapping events to handlers."""

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
    ClientExpired,
    ConsentChanged,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonErased,
    PersonUpdated,
)
from crm_contracts.proposals import PlanStepAssigned
from crm_contracts.topics import CAMPAIGNS, CONTACTS, PROPOSALS
from crm_kit.app import Subscription

from crm_notify import projections
from crm_notify.handlers import personal, requests

SUBSCRIPTIONS = [
    Subscription(
        topics=(CONTACTS, CAMPAIGNS, PROPOSALS),
        handlers={
            PersonAdded: projections.on_person,
            PersonUpdated: projections.on_person,
            ClientExpired: projections.on_client_expired,
            PersonErased: personal.on_person_erased,
            ConsentChanged: projections.on_consent,
            EmployeeRegistered: projections.on_employee,
            EmployeeUpdated: projections.on_employee,
            CuratorAssigned: requests.on_curator_assigned,
            InvitationRequested: requests.on_invitation_requested,
            TaskAssigned: requests.on_task_assigned,
            TaskCompleted: requests.on_task_completed,
            TaskCancelled: requests.on_task_cancelled,
            EventRescheduled: requests.on_event_rescheduled,
            EventCancelled: requests.on_event_cancelled,
            PlanStepAssigned: requests.on_plan_step_assigned,
        },
        # A campaign's invitations share its Kafka key, so they arrive together in one
        # lane: stored with one insert per consumer batch instead of one per event.
        batch_handlers={InvitationRequested: requests.on_invitations_requested},
        # An invitation's notification is stored under an id made from the request's event id
        # (``domain.notification_id``), a duplicate left as it is: that document is the record
        # of the request having been handled, and a marker beside it would be a second one.
        unmarked=frozenset({InvitationRequested}),
        description="Requests to notify, and the projection of people and employees.",
    )
]
