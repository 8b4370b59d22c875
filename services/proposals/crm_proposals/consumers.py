"""What proposals listens to: thin subscriptions mapping contacts' and the back office's facts
to projections."""

from __future__ import annotations

from crm_contracts.backoffice import ContractSigned, DealRefused, OrderPlaced, PaymentReceived
from crm_contracts.contacts import (
    ClientExpired,
    ClientRegistered,
    ClientsMerged,
    ClientStatusChanged,
    ClientUpdated,
    ContactRecorded,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonErased,
    PersonUpdated,
)
from crm_contracts.topics import BACKOFFICE, CONTACTS
from crm_kit.app import Subscription

from crm_proposals import projections
from crm_proposals.handlers import personal

SUBSCRIPTIONS = [
    Subscription(
        topics=(CONTACTS, BACKOFFICE),
        handlers={
            ClientRegistered: projections.on_client_state,
            ClientUpdated: projections.on_client_state,
            ClientStatusChanged: projections.on_client_status_changed,
            CuratorAssigned: projections.on_curator_assigned,
            ClientsMerged: projections.on_clients_merged,
            ClientExpired: projections.on_client_expired,
            EmployeeRegistered: projections.on_employee_state,
            EmployeeUpdated: projections.on_employee_state,
            PersonAdded: projections.on_person_state,
            PersonUpdated: projections.on_person_state,
            PersonErased: personal.on_person_erased,
            ContactRecorded: projections.on_contact_recorded,
            ContractSigned: projections.on_back_office_fact,
            OrderPlaced: projections.on_back_office_fact,
            PaymentReceived: projections.on_back_office_fact,
            DealRefused: projections.on_back_office_fact,
        },
        description="Clients a proposal may be made to, their curators and people (the client's "
        "side of a proposal), employees who may take part or be assigned steps, and contact "
        "records linked to a proposal; and what back-office systems say about a won proposal "
        "(contract, orders, payments, a refusal), shown as its back-office stage (a fact about "
        "a proposal that is unknown or not won is dead-lettered).",
    )
]
