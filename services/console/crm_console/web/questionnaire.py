"""An event's questionnaire results on its page: a table per question with a bar per answer
(SVG drawn here, no script), the newest free texts (every one of a question on a page of its
own, paged), and the results as CSV from campaigns."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Path, Query
from fastapi.responses import HTMLResponse, Response

from crm_console.apis import ApiProblem
from crm_console.web.context import Id, SignedIn

router = APIRouter()

TEXTS_SHOWN: Final = 20
"""Free texts the page shows per question, newest first."""
TEXTS_PER_PAGE: Final = 50
"""Free texts a question's own page shows at a time."""
TEXTS_IN_CSV: Final = 200
"""Free texts the CSV holds per question (campaigns' largest page)."""
BAR_WIDTH: Final = 200


def results_path(event_id: str) -> str:
    return f"/events/{event_id}/questionnaire/results"


QuestionId = Annotated[str, Path(min_length=1, max_length=100)]
"""As campaigns takes a question's id: any text of 1 to 100 characters."""


def texts_path(event_id: str, question_id: str) -> str:
    """Campaigns' free texts of a question."""
    return f"{results_path(event_id)}/{quote(question_id, safe='')}/texts"


def texts_page(event_id: str, question_id: str) -> str:
    """The console's page of a question's free texts."""
    return f"/events/{event_id}/questionnaire/{quote(question_id, safe='')}/texts"


def _row(label: str, count: int, answered: int, *, current: bool = True) -> dict[str, Any]:
    return {
        "label": label,
        "count": count,
        "current": current,
        "width": round(BAR_WIDTH * count / answered, 1) if answered else 0,
    }


def shown(report: dict[str, Any] | None) -> dict[str, Any] | None:
    """Campaigns' results laid out for the page: each question's rows with their bar width
    (the share of those who answered it), its mean and its texts."""
    if not report:
        return None
    questions = []
    for q in report["questions"]:
        answered = int(q["answered"])
        rows = [
            _row(o["option"], o["count"], answered, current=o.get("current", True))
            for o in q.get("options") or []
        ] + [_row(str(s["value"]), s["count"], answered) for s in q.get("scale") or []]
        texts = q.get("texts")
        questions.append(
            {
                "id": q["question_id"],
                "text": q["text"],
                "kind": q["kind"],
                "answered": answered,
                "mean": q.get("mean"),
                "erased": q.get("erased") or 0,
                "rows": rows,
                "texts": texts["items"] if texts else None,
                "more_texts": bool(texts and texts.get("next_cursor")),
                "texts_page": texts_page(str(report["event_id"]), q["question_id"]),
            }
        )
    return {
        "responses": report["responses"],
        "by_channel": report["by_channel"],
        "without_answers": report["without_answers"],
        "questions": questions,
        "bar_width": BAR_WIDTH,
    }


@router.get("/events/{event_id}/questionnaire/results.csv", response_model=None)
async def results_csv(visit: SignedIn, event_id: Id) -> Response:
    answer = await visit.console.apis.raw(
        await visit.token(),
        "campaigns",
        results_path(event_id),
        {"format": "csv", "limit": TEXTS_IN_CSV},
        accept="text/csv",
    )
    return Response(
        answer.content,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="questionnaire-results.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/events/{event_id}/questionnaire/{question_id}/texts", response_class=HTMLResponse)
async def question_texts(
    visit: SignedIn,
    event_id: Id,
    question_id: QuestionId,
    cursor: Annotated[str, Query(max_length=1024)] = "",
) -> HTMLResponse:
    """Every free text given to one question, newest first, a page at a time."""
    params: dict[str, str | int] = {"limit": TEXTS_PER_PAGE, "cursor": cursor}
    event, questionnaire, page = await asyncio.gather(
        visit.get("campaigns", f"/events/{event_id}"),
        visit.get("campaigns", f"/events/{event_id}/questionnaire"),
        visit.get("campaigns", texts_path(event_id, question_id), params),
    )
    question = next(
        (q for q in questionnaire.get("questions", []) if q.get("question_id") == question_id),
        None,
    )
    if question is None:
        raise ApiProblem(404, "Not found", f"the questionnaire has no question {question_id}")
    following = page.get("next_cursor")
    return visit.page(
        "question_texts.html",
        event=event,
        question=question,
        page=page,
        older=f"{texts_page(event_id, question_id)}?cursor={quote(following, safe='')}"
        if following
        else None,
    )
