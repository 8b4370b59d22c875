"""What campaigns listens to: thin subscriptions mapping events to handlers."""

from __future__ import annotations

from crm_contracts.contacts import (
    ClientExpired,
    ClientRegistered,
    ClientStatusChanged,
    ClientUpdated,
    ConsentChanged,
    ContactRecorded,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonErased,
    PersonUpdated,
)
from crm_contracts.notify import NotificationDelivered, NotificationFailed
from crm_contracts.proposals import CatalogItemChanged
from crm_contracts.topics import CONTACTS, NOTIFY, PROPOSALS
from crm_kit.app import Subscription

from crm_campaigns import projections
from crm_campaigns.handlers import personal, reactions
from crm_campaigns.projections import people

SUBSCRIPTIONS = [
    Subscription(
        topics=(CONTACTS, NOTIFY, PROPOSALS),
        handlers={
            ClientRegistered: reactions.on_client_registered,
            ClientUpdated: projections.on_client_updated,
            ClientStatusChanged: projections.on_client_status_changed,
            ClientExpired: projections.on_client_expired,
            PersonAdded: people.on_person_added,
            PersonUpdated: people.on_person_updated,
            PersonErased: personal.on_person_erased,
            ConsentChanged: people.on_consent_changed,
            EmployeeRegistered: people.on_employee_registered,
            EmployeeUpdated: people.on_employee_updated,
            ContactRecorded: reactions.on_contact_recorded,
            NotificationDelivered: reactions.on_notification_delivered,
            NotificationFailed: reactions.on_notification_failed,
            CatalogItemChanged: people.on_catalog_item_changed,
        },
        batch_handlers={
            ContactRecorded: reactions.on_contacts_recorded,
            NotificationDelivered: reactions.on_notifications_reported,
            NotificationFailed: reactions.on_notifications_reported,
        },
        # Contact records are keyed by client and delivery outcomes by notification, so a lane
        # rarely holds more than one or two: lanes run 50 at once and their events are written
        # together (handlers/gathering.py).
        batch_size=500,
        concurrency=50,
        # A delivery outcome moves its participant once (the first one reported stands, with
        # a version-guarded write) and counts only when it did: that participant's outcome is
        # the record of the event having been handled, and a marker beside it would be a second
        # one (one insert less an invitation).
        unmarked=frozenset({NotificationDelivered, NotificationFailed}),
        description="Projections of clients, people, consent, employees and the catalogue; "
        "delivery outcomes and contact records that move participants and effectiveness.",
    )
]
