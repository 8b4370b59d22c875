"""An event's questionnaire results per question (JSON or CSV) and its free texts, paged."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from crm_kit.csv_export import csv_text
from crm_kit.cursors import Cursor as SignedCursor
from crm_kit.cursors import signer_of
from crm_kit.http import IdPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from crm_campaigns.api.common import Cursor, Limit, Reader
from crm_campaigns.domain.questionnaire_results import CHOICE_KINDS
from crm_campaigns.domain.questionnaires import QuestionKind
from crm_campaigns.handlers import questionnaire_results as handlers
from crm_campaigns.repository.planning import Page
from crm_campaigns.repository.responses import TextAnswer
from crm_campaigns.schemas.questionnaires import (
    OptionCountOut,
    QuestionnaireResultsOut,
    QuestionResultOut,
    ScaleCountOut,
    TextOut,
    TextPage,
)

router = APIRouter(tags=["questionnaires"])

RESULTS = "/events/{event_id}/questionnaire/results"
TEXTS = "/events/{event_id}/questionnaire/results/{question_id}/texts"


def _page(page: Page[TextAnswer], cursor: SignedCursor) -> TextPage:
    return TextPage(
        items=[
            TextOut(
                response_id=t.response_id,
                text=t.text,
                channel=t.channel,
                submitted_at=t.submitted_at,
            )
            for t in page.items
        ],
        next_cursor=cursor.next(page.next_cursor),
    )


def results_out(found: handlers.Results, texts_cursor: SignedCursor) -> QuestionnaireResultsOut:
    r = found.results
    questions: list[QuestionResultOut] = []
    for q in r.questions:
        out = QuestionResultOut(
            question_id=q.question_id, text=q.text, kind=q.kind, answered=q.answered
        )
        if q.kind in CHOICE_KINDS:
            out.options = [OptionCountOut(option=o.option, count=o.count, current=o.current)
                           for o in q.options]  # fmt: skip
        elif q.kind == QuestionKind.SCALE:
            out.scale = [ScaleCountOut(value=int(s.option), count=s.count) for s in q.scale]
            out.mean = float(q.mean) if q.mean is not None else None
        else:
            out.erased = q.erased
            out.texts = _page(found.texts.get(q.question_id, Page([], None)), texts_cursor)
        questions.append(out)
    return QuestionnaireResultsOut(
        event_id=r.event_id,
        title=r.title,
        responses=r.responses,
        by_channel=dict(r.by_channel),
        without_answers=r.without_answers,
        questions=questions,
    )


CSV_HEADER = ("question_id", "question", "kind", "answer", "count", "channel", "submitted_at")


def as_csv(report: QuestionnaireResultsOut) -> str:
    """Totals first, then each question's counts and, for free text, its texts; answers are
    people's words, so every text cell goes through the kit's formula guard."""
    rows: list[list[Any]] = [
        ["", "responses", "", channel, n, channel, ""] for channel, n in report.by_channel.items()
    ]
    rows.append(["", "responses", "", "without answers", report.without_answers, "", ""])
    rows.append(["", "responses", "", "total", report.responses, "", ""])
    for q in report.questions:
        head = [q.question_id, q.text, q.kind.value]
        for o in q.options or []:
            rows.append([*head, o.option, o.count, "", ""])
        for s in q.scale or []:
            rows.append([*head, s.value, s.count, "", ""])
        if q.mean is not None:
            rows.append([*head, "mean", q.mean, "", ""])
        rows.append([*head, "answered", q.answered, "", ""])
        if q.erased:
            rows.append([*head, "erased", q.erased, "", ""])
        for t in q.texts.items if q.texts else []:
            rows.append([*head, t.text, "", t.channel, t.submitted_at.isoformat()])
    return csv_text(CSV_HEADER, rows)


@router.get(
    RESULTS,
    response_model=QuestionnaireResultsOut,
    responses={**problem_responses(404), 200: {"content": {"text/csv": {}}}},
    summary="The questionnaire's results per question (JSON or CSV)",
    description="Per question, in the questionnaire's order: for a choice or product-interest "
    "question the count of every option, for a scale the count of each value 1 to 5 and the "
    "mean, for free text the texts, newest first (`limit` of them; page on with "
    f"`GET {TEXTS}`); how many answered each; the responses in all and by channel. "
    "Responses stored before answers were kept count in the totals as `without_answers`. "
    "`format=csv` answers the same as a spreadsheet-safe CSV.",
)
async def get_results(
    event_id: IdPath,
    runtime: RuntimeDep,
    request: Request,
    _: Reader,
    limit: Limit = 20,
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
) -> Any:
    found = await handlers.results(runtime, event_id, texts_limit=limit)
    report = results_out(found, SignedCursor(None, signer_of(request), TEXTS))
    if output == "csv":
        return Response(
            as_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="questionnaire-results.csv"'},
        )
    return report


@router.get(
    TEXTS,
    responses=problem_responses(404),
    summary="The free texts given to a question, newest first",
)
async def get_texts(
    event_id: IdPath,
    question_id: Annotated[str, Path(min_length=1, max_length=100)],
    runtime: RuntimeDep,
    _: Reader,
    cursor: Cursor,
    limit: Limit = 20,
) -> TextPage:
    page = await handlers.texts(runtime, event_id, question_id, cursor=cursor.position, limit=limit)
    return _page(page, cursor)
