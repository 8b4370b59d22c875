"""Build the contacts service: settings, spec and the uvicorn entry point."""

from __future__ import annotations

from crm_contracts import contacts as c
from crm_kit.app import ServiceSpec, create_app, serve
from fastapi import FastAPI

from crm_contacts import api, consumers
from crm_contacts.domain import ContactsError, InvalidInputError, StateConflict, UnknownReference
from crm_contacts.domain.errors import PersonNotFound
from crm_contacts.handlers.retention import retention_worker
from crm_contacts.repository import TIMELINE, create_indexes
from crm_contacts.settings import ContactsSettings

__all__ = ["SPEC", "ContactsSettings", "create", "main"]


SPEC = ServiceSpec(
    name="contacts",
    title="CRM contacts",
    description="The one client base every department shares: clients, people, employees, "
    "curators and contact records.",
    routers=api.ROUTERS,
    # The timeline is written only by the consumer (a merge through the API repoints it, as
    # the ClientsMerged it publishes does again): every entry is a fact on a topic. Clients,
    # people, employees and records take API writes and are not projections.
    projections=[TIMELINE],
    subscriptions=consumers.SUBSCRIPTIONS,
    produces=[
        c.ClientRegistered,
        c.ClientUpdated,
        c.ClientStatusChanged,
        c.PersonAdded,
        c.PersonUpdated,
        c.PersonErased,
        c.ConsentChanged,
        c.EmployeeRegistered,
        c.EmployeeUpdated,
        c.CuratorAssigned,
        c.ContactRecorded,
        c.ClientsMerged,
        c.ClientExpired,
    ],
    workers=[retention_worker],
    indexes=create_indexes,
    domain_errors={
        ContactsError: 422,
        InvalidInputError: 422,
        UnknownReference: 422,
        PersonNotFound: 404,
        StateConflict: 409,
    },
)


def create(settings: ContactsSettings | None = None) -> FastAPI:
    return create_app(SPEC, settings or ContactsSettings())


def main() -> None:
    settings = ContactsSettings()
    serve(create(settings), settings)
