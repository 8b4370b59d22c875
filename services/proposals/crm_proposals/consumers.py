"""What proposals listens to: thin subscriptions mapping contacts' facts to projections."""

from __future__ import annotations

from crm_contracts.contacts import (
    ClientRegistered,
    ClientsMerged,
    ClientStatusChanged,
    ClientUpdated,
    ContactRecorded,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.topics import CONTACTS
from crm_kit.app import Subscription

from crm_proposals import projections

SUBSCRIPTIONS = [
    Subscription(
        topics=(CONTACTS,),
        handlers={
            ClientRegistered: projections.on_client_state,
            ClientUpdated: projections.on_client_state,
            ClientStatusChanged: projections.on_client_status_changed,
            CuratorAssigned: projections.on_curator_assigned,
            ClientsMerged: projections.on_clients_merged,
            EmployeeRegistered: projections.on_employee_state,
            EmployeeUpdated: projections.on_employee_state,
            PersonAdded: projections.on_person_state,
            PersonUpdated: projections.on_person_state,
            ContactRecorded: projections.on_contact_recorded,
        },
        description="Clients a proposal may be made to, their curators and people (the client's "
        "side of a proposal), employees who may take part or be assigned steps, and contact "
        "records linked to a proposal.",
    )
]
