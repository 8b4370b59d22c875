"""Campaigns' copies of one person: the projection, their participations, their answers.

A response is the person's when it came through their own link (its ``person_id``) or when
contacts registered them from it (a ``response:<id>`` subject of ``PersonErased``). Their
free texts are their words: erasure removes them, keeping that the question was answered;
their choices and scale values stay in the event's numbers, tied to no one once the
participant is gone.
"""

from __future__ import annotations

import re
from typing import Any

from bson.regex import Regex
from crm_contracts.contacts import PersonErased
from crm_contracts.personal import ERASED, RESPONSE_SUBJECT
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from crm_kit.sealing import FORGOTTEN_VERSION

from crm_campaigns.domain.participants import REMOVED_WHO, person_who
from crm_campaigns.projections.people import PEOPLE
from crm_campaigns.repository import NEEDS, PARTICIPANTS, RESPONSES
from crm_campaigns.repository.responses import Responses


def _participations_of(person_id: str) -> dict[str, Any]:
    """On any event's list, or removed from one: two ranges of the (who, event) index. (A
    Python pattern would carry the unicode flag, and the server reads a flagged regex as a
    scan of the whole index.)"""
    who = person_who(person_id)
    return {"who": {"$in": [who, Regex(f"^{re.escape(who + REMOVED_WHO)}")]}}


def _responses_of(person_id: str, response_ids: list[str]) -> dict[str, Any]:
    return {"$or": [{"person_id": person_id}, {"_id": {"$in": response_ids}}]}


async def forget_person(runtime: Runtime, event: PersonErased) -> None:
    """The projection keeps only that the person was erased (and no later state of theirs
    replaces that); their participations keep their path but not their name; their
    questionnaire answers lose their free texts."""
    person_id, at = event.person_id, event.erased_at
    prefix = f"{RESPONSE_SUBJECT}:"
    named = [s.removeprefix(prefix) for s in event.subjects if s.startswith(prefix)]
    await Responses(runtime).erase_texts(_responses_of(person_id, named))
    await runtime.db[PARTICIPANTS].update_many(
        {**_participations_of(person_id), "name": {"$ne": ERASED}}, {"$set": {"name": ERASED}}
    )
    # The copy is marked erased last: its mark says that everything else is gone.
    await runtime.db[PEOPLE].update_one(
        {"_id": person_id},
        {
            "$set": {
                "name": ERASED,
                "position": None,
                "channels": {},
                "preferred_channel": None,
                "consents": {},
                "consented": [],
                "erased_at": at,
                "version": FORGOTTEN_VERSION,
            }
        },
        upsert=True,
    )


async def held_about(runtime: Runtime, person_id: str) -> dict[str, list[Document]]:
    db = runtime.db
    person = await db[PEOPLE].find_one({"_id": person_id})
    participations = await db[PARTICIPANTS].find(_participations_of(person_id)).to_list()
    response_ids = [f"{p['event_id']}:{p['_id']}" for p in participations]
    responses = await db[RESPONSES].find(_responses_of(person_id, response_ids)).to_list()
    needs: list[Any] = await db[NEEDS].find({"person_id": person_id}).to_list()
    return {
        "person": [person] if person else [],
        "participations": participations,
        "questionnaire_responses": responses,
        "needs": needs,
    }
