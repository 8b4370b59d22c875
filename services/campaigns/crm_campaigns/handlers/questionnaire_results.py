"""An event's questionnaire results: the counts per question and the free texts given."""

from __future__ import annotations

from dataclasses import dataclass

from crm_kit.runtime import Runtime

from crm_campaigns.domain.errors import NoFreeTextQuestion
from crm_campaigns.domain.questionnaire_results import QuestionnaireResults, tally
from crm_campaigns.domain.questionnaires import QuestionKind
from crm_campaigns.handlers.questionnaires import get_questionnaire
from crm_campaigns.repository.planning import EventRepository, Page
from crm_campaigns.repository.responses import Responses, TextAnswer


@dataclass(frozen=True)
class Results:
    results: QuestionnaireResults
    texts: dict[str, Page[TextAnswer]]
    """The first page of each free-text question's texts, newest first."""


async def results(runtime: Runtime, event_id: str, *, texts_limit: int) -> Results:
    await EventRepository(runtime).get(event_id)
    questionnaire = await get_questionnaire(runtime, event_id)
    responses = Responses(runtime)
    tallied = tally(questionnaire, await responses.counts(event_id))
    texts = {
        q.question_id: await responses.texts(
            event_id, q.question_id, cursor=None, limit=texts_limit
        )
        for q in questionnaire.questions
        if q.kind == QuestionKind.FREE_TEXT
    }
    return Results(tallied, texts)


async def texts(
    runtime: Runtime, event_id: str, question_id: str, *, cursor: str | None, limit: int
) -> Page[TextAnswer]:
    await EventRepository(runtime).get(event_id)
    questionnaire = await get_questionnaire(runtime, event_id)
    if not any(
        q.question_id == question_id and q.kind == QuestionKind.FREE_TEXT
        for q in questionnaire.questions
    ):
        raise NoFreeTextQuestion(
            f"the questionnaire has no free-text question {question_id}", field="question_id"
        )
    return await Responses(runtime).texts(event_id, question_id, cursor=cursor, limit=limit)
