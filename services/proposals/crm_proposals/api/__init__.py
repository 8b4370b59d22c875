"""The proposals HTTP API: thin routers that parse, call a use case and map the result."""

from __future__ import annotations

from crm_kit import personal_data

from crm_proposals.api import catalogue, plans, proposals, reports, sales_models
from crm_proposals.handlers import personal

ROUTERS = [
    catalogue.router,
    proposals.router,
    plans.router,
    sales_models.router,
    reports.router,
    personal_data.router("proposals", personal.personal_data),
]
