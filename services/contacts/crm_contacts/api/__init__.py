"""The contacts HTTP API: thin routers that parse, call a use case and map the result."""

from crm_contacts.api import clients, employees, erasure, imports, people, records

ROUTERS = [
    imports.router,
    clients.router,
    people.router,
    employees.router,
    records.router,
    erasure.router,
    erasure.export_router,
]

__all__ = ["ROUTERS"]
