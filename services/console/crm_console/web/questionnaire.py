"""An event's questionnaire results on its page: a table per question with a bar per answer
(SVG drawn here, no script), the newest free texts, and the results as CSV from campaigns."""

from __future__ import annotations

from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import Response

from crm_console.web.context import Id, SignedIn

router = APIRouter()

TEXTS_SHOWN: Final = 20
"""Free texts the page shows per question, newest first."""
TEXTS_IN_CSV: Final = 200
"""Free texts the CSV holds per question (campaigns' largest page)."""
BAR_WIDTH: Final = 200


def results_path(event_id: str) -> str:
    return f"/events/{event_id}/questionnaire/results"


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
