"""Every query of the proposals service, and only here."""

from __future__ import annotations

from crm_kit.outbox import Document
from pymongo.asynchronous.database import AsyncDatabase

CATALOG = "catalog"
PROPOSALS = "proposals"
SALES_MODELS = "sales_models"
CLIENTS = "client_projection"
EMPLOYEES = "employee_projection"
PEOPLE = "person_projection"
PROPOSAL_CONTACTS = "proposal_contacts"
BACK_OFFICE = "back_office"
"""What back-office systems said about won proposals (``crm.backoffice.v1``)."""
MINING = "mining_state"
"""The latest mining run's decisive steps, by which skipped steps are flagged."""

DEFAULT_PAGE = 50
MAX_PAGE = 200


async def create_indexes(db: AsyncDatabase[Document]) -> None:
    await db[PROPOSALS].create_index([("client_id", 1), ("_id", 1)])
    await db[PROPOSALS].create_index([("status", 1), ("_id", 1)])
    await db[PROPOSALS].create_index([("curator_id", 1), ("_id", 1)])
    await db[PROPOSALS].create_index([("registered_at", 1), ("_id", 1)])
    await db[PROPOSALS].create_index([("curator_id", 1), ("registered_at", 1), ("_id", 1)])
    await db[PROPOSALS].create_index("plan.steps.step_id")
    # Someone's open steps across proposals (GET /steps?assignee_id=).
    await db[PROPOSALS].create_index([("plan.steps.assignee_id", 1), ("plan.steps.state", 1)])
    await db[PROPOSALS].create_index([("flagged", 1), ("_id", 1)])
    # A person's data export: the proposals they take part in.
    await db[PROPOSALS].create_index("revisions.participants.person_id", sparse=True)
    await db[CATALOG].create_index([("active", 1), ("_id", 1)])
    await db[CATALOG].create_index([("kind", 1), ("_id", 1)])
    await db[PROPOSAL_CONTACTS].create_index([("proposal_id", 1), ("occurred_at", 1)])
    await db[PEOPLE].create_index("client_id")
