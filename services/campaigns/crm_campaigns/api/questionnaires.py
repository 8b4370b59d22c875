"""Questionnaires: the definition, responses keyed in through the API, the public /q/ page."""

from __future__ import annotations

from typing import Any

from crm_contracts.values import ResponseChannel
from crm_kit.clock import utc_now
from crm_kit.http import IdPath
from crm_kit.problems import (
    MAX_LISTED_ERRORS,
    FieldError,
    InvalidInput,
    NotFound,
    field_path,
    problem_responses,
)
from crm_kit.refusals import Refused, refusals_of
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Request, Response, status
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from starlette.datastructures import FormData

from crm_campaigns import pages
from crm_campaigns.api.common import IfMatch, Reader, Writer, etag
from crm_campaigns.api.public import bad_link, page_responses, too_frequent
from crm_campaigns.domain.errors import (
    AlreadyResponded,
    CampaignsError,
    Missing,
    QuestionnaireFull,
)
from crm_campaigns.domain.questionnaires import QuestionKind, Questionnaire
from crm_campaigns.handlers import questionnaires as handlers
from crm_campaigns.handlers.participants import public_url, signer
from crm_campaigns.links import ExpiredLink, InvalidLink, LinkPurpose
from crm_campaigns.projections.people import catalog_names
from crm_campaigns.repository.participants import ParticipantRepository
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.schemas.questionnaires import (
    AnswerBody,
    ImportOut,
    ImportRowOut,
    LinkOut,
    QuestionnaireBody,
    QuestionnaireOut,
    QuestionOut,
    RespondentBody,
    ResponseBody,
    ResponseOut,
)

router = APIRouter(tags=["questionnaires"])


def questionnaire_out(runtime: RuntimeDep, q: Questionnaire) -> QuestionnaireOut:
    return QuestionnaireOut(
        event_id=q.event_id,
        title=q.title,
        questions=[
            QuestionOut(
                question_id=x.question_id,
                text=x.text,
                kind=x.kind,
                options=list(x.options),
                required=x.required,
            )
            for x in q.questions
        ],
        version=q.version,
        anonymous_link=handlers.link(runtime, q.event_id, None),
    )


@router.put(
    "/events/{event_id}/questionnaire",
    responses=problem_responses(404, 412, 422, 428),
    summary='Define or change the event\'s questionnaire (If-Match; "0" for a new one)',
)
async def define_questionnaire(
    event_id: IdPath,
    body: QuestionnaireBody,
    runtime: RuntimeDep,
    _: Writer,
    version: IfMatch,
    response: Response,
) -> QuestionnaireOut:
    q = await handlers.define_questionnaire(runtime, event_id, body, expected_version=version)
    etag(response, q.version)
    return questionnaire_out(runtime, q)


@router.get(
    "/events/{event_id}/questionnaire",
    responses=problem_responses(404),
    summary="The event's questionnaire",
)
async def get_questionnaire(
    event_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> QuestionnaireOut:
    q = await handlers.get_questionnaire(runtime, event_id)
    etag(response, q.version)
    return questionnaire_out(runtime, q)


@router.get(
    "/events/{event_id}/participants/{participant_id}/questionnaire-link",
    responses=problem_responses(404),
    summary="The participant's own questionnaire link (/q/{token})",
)
async def participant_link(
    event_id: IdPath, participant_id: IdPath, runtime: RuntimeDep, _: Reader
) -> LinkOut:
    await ParticipantRepository(runtime).get(event_id, participant_id)
    path = handlers.link(runtime, event_id, participant_id)
    return LinkOut(path=path, url=public_url(runtime, path))


@router.post(
    "/events/{event_id}/questionnaire/responses",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409, 422),
    summary="Key in a response from paper (QuestionnaireSubmitted, NeedsIdentified)",
)
async def key_in_response(
    event_id: IdPath, body: ResponseBody, runtime: RuntimeDep, _: Writer
) -> ResponseOut:
    response_id, codes, at = await handlers.submit(
        runtime,
        event_id,
        participant_id=body.participant_id,
        respondent=body.respondent,
        answers=body.answers,
        channel=ResponseChannel.PAPER,
    )
    return ResponseOut(
        id=response_id,
        event_id=event_id,
        participant_id=body.participant_id,
        channel=ResponseChannel.PAPER.value,
        product_interest_codes=list(codes),
        submitted_at=at,
    )


MAX_CSV_BYTES = 2_000_000


@router.post(
    "/events/{event_id}/questionnaire/responses/import",
    responses=problem_responses(404, 422),
    summary="Key in a batch of paper questionnaires from CSV",
    description="Send `text/csv` (UTF-8) with a header row naming the columns: any of "
    f"{', '.join(handlers.RESPONDENT_COLUMNS)}, and one column per question, named by its "
    "question id. Choices, product interests and consented channels are separated by `;`; a "
    "scale is a number from 1 to 5. Each row is submitted on its own, like one keyed in "
    "through `POST .../questionnaire/responses` (QuestionnaireSubmitted, NeedsIdentified), "
    "and answered with `created` and the response id, or `error` and the row's errors naming "
    "the column.",
    openapi_extra={
        "requestBody": {"required": True, "content": {"text/csv": {"schema": {"type": "string"}}}}
    },
)
async def import_responses(
    event_id: IdPath, request: Request, runtime: RuntimeDep, _: Writer
) -> ImportOut:
    raw = await request.body()
    if len(raw) > MAX_CSV_BYTES:
        raise InvalidInput(
            [FieldError(field="body", message=f"at most {MAX_CSV_BYTES} bytes", type="too_long")]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            [FieldError(field="body", message=f"the CSV is not UTF-8: {exc}", type="encoding")]
        ) from exc
    results = await handlers.import_responses(runtime, event_id, text)
    rows = [
        ImportRowOut(
            row=r.row,
            status="error" if r.errors else "created",
            response_id=r.response_id,
            errors=r.errors,
        )
        for r in results
    ]
    created = sum(1 for r in rows if r.status == "created")
    return ImportOut(created=created, failed=len(rows) - created, rows=rows)


# -- the public page ----------------------------------------------------------------------------
QUESTIONNAIRE_FORM: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 300},
        "organisation": {"type": "string", "maxLength": 300},
        "position": {"type": "string", "maxLength": 300},
        "email": {"type": "string", "maxLength": 320},
        "phone": {"type": "string", "maxLength": 40},
        "consent_email": {
            "type": "string",
            "maxLength": 20,
            "description": "Present (any value) when the respondent agrees to e-mails; "
            "counts only with an `email`.",
        },
    },
    "patternProperties": {
        "^q_.+$": {
            "description": "The answer to question `<question_id>`: a scale `1`-`5`, a text, "
            "or (repeated) the options chosen.",
            "anyOf": [
                {"type": "string", "maxLength": 5000},
                {
                    "type": "array",
                    "items": {"type": "string", "maxLength": 200},
                    "maxItems": 100,
                },
            ],
        }
    },
}
"""The fields of the questionnaire page's form (what ``_form_answers`` reads)."""


async def _page(
    runtime: RuntimeDep, token: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    try:
        claims = signer(runtime).verify(LinkPurpose.QUESTIONNAIRE, token, now=utc_now())
        event = await EventRepository(runtime).get(claims.event_id)
        q = await handlers.get_questionnaire(runtime, claims.event_id)
    except (InvalidLink, ExpiredLink) as exc:
        return bad_link(exc)
    except (Missing, NotFound) as exc:
        return bad_link(InvalidLink(str(exc)))
    if claims.participant_id and await handlers.response_exists(
        runtime, claims.event_id, claims.participant_id
    ):
        return pages.message(q.title, "Thank you — your answers are already with us.")
    return pages.render(
        "questionnaire.html",
        status_code=status_code,
        title=q.title,
        questionnaire=q,
        event=event,
        anonymous=claims.participant_id is None,
        catalog=await catalog_names(runtime.db, (o for x in q.questions for o in x.options)),
        error=error,
    )


@router.get(
    "/q/{token}",
    response_class=HTMLResponse,
    responses=page_responses(404, 410),
    summary="The questionnaire page",
)
async def questionnaire_page(token: str, runtime: RuntimeDep) -> HTMLResponse:
    return await _page(runtime, token)


@router.post(
    "/q/{token}",
    response_class=HTMLResponse,
    responses=page_responses(404, 409, 410, 422, 429),
    summary="Send the questionnaire (a form)",
    description="The form the questionnaire page posts. Each question is a field "
    "`q_<question_id>` (the ids of `GET /events/{event_id}/questionnaire`): a scale the digit "
    "1 to 5, free text a string, a choice or product question the field repeated once per "
    "option chosen (the option's value). An unanswered question is left out. The respondent "
    "fields name who answered (an anonymous link's only way to know).",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media: {"schema": QUESTIONNAIRE_FORM}
                for media in ("application/x-www-form-urlencoded", "multipart/form-data")
            },
        }
    },
)
async def submit_questionnaire(token: str, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    if refused := await too_frequent(runtime, request, token):
        return refused
    try:
        claims = signer(runtime).verify(LinkPurpose.QUESTIONNAIRE, token, now=utc_now())
        q = await handlers.get_questionnaire(runtime, claims.event_id)
    except (InvalidLink, ExpiredLink) as exc:
        return bad_link(exc)
    except (Missing, NotFound) as exc:
        return bad_link(InvalidLink(str(exc)))
    form = await request.form()
    try:
        answers, respondent = _form_answers(q, form)
    except ValidationError as exc:
        return await _page(runtime, token, error=_form_error(exc), status_code=422)
    try:
        await handlers.submit(
            runtime,
            claims.event_id,
            participant_id=claims.participant_id,
            respondent=respondent,
            answers=answers,
            channel=ResponseChannel.ELECTRONIC,
        )
    except AlreadyResponded:
        return pages.message(q.title, "Thank you — your answers are already with us.")
    except QuestionnaireFull:
        return pages.message(
            q.title,
            "This questionnaire has received all the answers it can take. Thank you all the same.",
            status_code=409,
            error=True,
        )
    except (CampaignsError, Refused) as exc:
        # Every answer that does not fit, not only the first.
        told = "; ".join(str(e) for e in refusals_of(exc) or (exc,))
        return await _page(runtime, token, error=told[:500], status_code=422)
    return pages.message(q.title, "Thank you for your answers.")


def _form_answers(q: Questionnaire, form: FormData) -> tuple[list[AnswerBody], RespondentBody]:
    """The form's fields as the bodies the API takes; a ValidationError names what is wrong."""
    answers: list[AnswerBody] = []
    for x in q.questions:
        values = [str(v) for v in form.getlist(f"q_{x.question_id}") if str(v).strip()]
        if not values:
            continue
        if x.kind == QuestionKind.SCALE:
            # Only ASCII digits: "²" is a digit to str.isdigit() but not to int().
            raw = values[0].strip()
            scale = int(raw) if raw.isascii() and raw.isdecimal() and len(raw) <= 4 else None
            answers.append(AnswerBody(question_id=x.question_id, scale=scale))
        elif x.kind == QuestionKind.FREE_TEXT:
            answers.append(AnswerBody(question_id=x.question_id, text=values[0][:5000]))
        else:
            answers.append(AnswerBody(question_id=x.question_id, choices=values))
    respondent = RespondentBody(
        name=str(form.get("name") or "").strip()[:300] or None,
        organisation=str(form.get("organisation") or "").strip()[:300] or None,
        position=str(form.get("position") or "").strip()[:300] or None,
        email=str(form.get("email") or "").strip()[:320] or None,
        phone=str(form.get("phone") or "").strip()[:40] or None,
        consented_channels=["email"] if form.get("consent_email") and form.get("email") else [],
    )
    return answers, respondent


def _form_error(exc: ValidationError) -> str:
    """Every fault of the form, each at its path (``[0].scale``), in one short sentence."""
    told = "; ".join(
        f"{field_path(e['loc'])[:60]}: {e['msg'][:120]}" for e in exc.errors()[:MAX_LISTED_ERRORS]
    )
    return f"Please check your answers ({told})"[:500]
