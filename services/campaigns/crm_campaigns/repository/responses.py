"""Questionnaire responses as stored: their answers, counted per question, and free texts.

Each response holds its answers (``answers``: question id with the choices, the scale or the
text given) and, when the respondent came through their own link, the ``person_id``; a
response stored before answers were kept has no ``answers``. Every read names the event and is
served by the index ``BY_EVENT``; a person's erasure finds their responses by ``person_id`` or
by the response id contacts named (``repository.personal``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crm_contracts.values import ResponseChannel
from crm_kit.runtime import Runtime
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession

from crm_campaigns.domain.questionnaire_results import ResponseCounts, answered
from crm_campaigns.domain.questionnaires import GivenAnswer
from crm_campaigns.repository import RESPONSES
from crm_campaigns.repository.pagination import after, next_cursor
from crm_campaigns.repository.planning import Page

BY_EVENT = "responses_by_event"
INDEXES = [
    IndexModel([("event_id", ASCENDING), ("submitted_at", ASCENDING), ("_id", ASCENDING)],
               name=BY_EVENT),
    IndexModel("person_id", sparse=True, name="responses_by_person"),  # erasure and export
]  # fmt: skip


def answers_doc(answers: Iterable[GivenAnswer]) -> list[dict[str, Any]]:
    """The answers that say something, each with only what it says."""
    docs: list[dict[str, Any]] = []
    for given in answers:
        if not answered(given):
            continue
        doc: dict[str, Any] = {"question_id": given.question_id}
        if given.choices:
            doc["choices"] = list(given.choices)
        if given.scale is not None:
            doc["scale"] = given.scale
        if (given.text or "").strip():
            doc["text"] = given.text
        docs.append(doc)
    return docs


@dataclass(frozen=True)
class TextAnswer:
    response_id: str
    text: str
    channel: str
    submitted_at: datetime


class Responses:
    def __init__(self, runtime: Runtime) -> None:
        self.collection = runtime.db[RESPONSES]

    async def counts(self, event_id: str) -> ResponseCounts:
        """One aggregation over the event's responses (index ``BY_EVENT``)."""
        each_answer = [{"$unwind": "$answers"}]
        pipeline: list[dict[str, Any]] = [
            {"$match": {"event_id": event_id}},
            {
                "$facet": {
                    "channels": [
                        {
                            "$group": {
                                "_id": "$channel",
                                "n": {"$sum": 1},
                                "without": {
                                    "$sum": {
                                        "$cond": [{"$eq": [{"$type": "$answers"}, "missing"]}, 1, 0]
                                    }
                                },
                            }
                        }
                    ],
                    "answered": [
                        *each_answer,
                        {
                            "$group": {
                                "_id": "$answers.question_id",
                                "n": {"$sum": 1},
                                "erased": {"$sum": {"$cond": ["$answers.erased", 1, 0]}},
                            }
                        },
                    ],
                    "choices": [
                        *each_answer,
                        {"$unwind": "$answers.choices"},
                        {
                            "$group": {
                                "_id": {"q": "$answers.question_id", "o": "$answers.choices"},
                                "n": {"$sum": 1},
                            }
                        },
                    ],
                    "scales": [
                        *each_answer,
                        {"$match": {"answers.scale": {"$type": "number"}}},
                        {
                            "$group": {
                                "_id": {"q": "$answers.question_id", "v": "$answers.scale"},
                                "n": {"$sum": 1},
                            }
                        },
                    ],
                }
            },
        ]
        found = await (await self.collection.aggregate(pipeline, hint=BY_EVENT)).to_list()
        facets = found[0] if found else {}
        channels = facets.get("channels", [])
        return ResponseCounts(
            by_channel={c.value: 0 for c in ResponseChannel}
            | {str(c["_id"]): c["n"] for c in channels},
            without_answers=sum(c["without"] for c in channels),
            answered={a["_id"]: a["n"] for a in facets.get("answered", [])},
            choices={(c["_id"]["q"], c["_id"]["o"]): c["n"] for c in facets.get("choices", [])},
            scales={(s["_id"]["q"], int(s["_id"]["v"])): s["n"] for s in facets.get("scales", [])},
            erased={a["_id"]: a["erased"] for a in facets.get("answered", []) if a["erased"]},
        )

    async def erase_texts(
        self, query: dict[str, Any], *, session: AsyncClientSession | None = None
    ) -> None:
        """Every free text of the responses ``query`` selects is removed; the answer stays,
        marked ``erased``, so the question still counts as answered."""
        await self.collection.update_many(
            {**query, "answers.text": {"$exists": True}},
            {"$unset": {"answers.$[a].text": ""}, "$set": {"answers.$[a].erased": True}},
            array_filters=[{"a.text": {"$exists": True}}],
            session=session,
        )

    async def texts(
        self, event_id: str, question_id: str, *, cursor: str | None, limit: int
    ) -> Page[TextAnswer]:
        """The free texts given to a question, newest first (index ``BY_EVENT``)."""
        query: dict[str, Any] = {
            "event_id": event_id,
            "answers": {"$elemMatch": {"question_id": question_id, "text": {"$type": "string"}}},
            **after("submitted_at", cursor, descending=True),
        }
        docs = (
            await self.collection.find(
                query,
                {"channel": 1, "submitted_at": 1, "answers.$": 1},
                hint=BY_EVENT,
            )
            .sort([("submitted_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
            .to_list()
        )
        items = [
            TextAnswer(
                response_id=str(d["_id"]),
                text=str(d["answers"][0]["text"]),
                channel=str(d.get("channel", "")),
                submitted_at=d["submitted_at"],
            )
            for d in docs
        ]
        return Page(items, next_cursor(docs, "submitted_at", limit))
