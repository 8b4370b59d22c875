"""Proposals' copies of one person: the projection, and the proposals they take part in."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.personal import ERASED
from crm_kit.outbox import Document
from crm_kit.sealing import FORGOTTEN_VERSION
from pymongo.asynchronous.database import AsyncDatabase

from crm_proposals.repository import PEOPLE, PROPOSALS

PARTICIPANT = "revisions.participants.person_id"


async def forget_person(db: AsyncDatabase[Document], person_id: str, at: datetime) -> None:
    """Their copy keeps its client (the proposals name the person by id) and nothing else:
    a back-office hand-over names no contact person for them any more."""
    await db[PEOPLE].update_one(
        {"_id": person_id},
        {
            "$set": {
                "name": ERASED,
                "position": None,
                "email": None,
                "phone": None,
                "mobile": None,
                "erased_at": at,
                "version": FORGOTTEN_VERSION,
            }
        },
        upsert=True,
    )


async def held_about(db: AsyncDatabase[Document], person_id: str) -> dict[str, list[Document]]:
    person = await db[PEOPLE].find_one({"_id": person_id})
    proposals = (
        await db[PROPOSALS]
        .find(
            {PARTICIPANT: person_id},
            {"client_id": 1, "status": 1, "revisions.number": 1, "revisions.participants": 1},
        )
        .to_list()
    )
    taking_part = [
        {
            "_id": p["_id"],
            "client_id": p.get("client_id"),
            "status": p.get("status"),
            "as": sorted(
                {
                    str(part.get("role"))
                    for r in p.get("revisions", ())
                    for part in r.get("participants", ())
                    if part.get("person_id") == person_id
                }
            ),
        }
        for p in proposals
    ]
    return {"person": [person] if person else [], "proposals": taking_part}
