"""Public pages reached through signed links: the invitation answer (/i/{token}).

No bearer token here: the signed link is the credential. Every failure is a readable HTML
page (never a stack trace or JSON), and answering twice changes nothing the second time.
"""

from __future__ import annotations

from typing import Annotated, Any
from zoneinfo import ZoneInfo

from crm_kit.clock import utc_now
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from crm_campaigns import pages
from crm_campaigns.domain.errors import AlreadyAnswered, CampaignsError, Missing
from crm_campaigns.domain.events import MarketingEvent
from crm_campaigns.domain.participants import Participant
from crm_campaigns.handlers import participants as handlers
from crm_campaigns.handlers import public_forms
from crm_campaigns.links import ExpiredLink, InvalidLink, LinkClaims, LinkPurpose
from crm_campaigns.repository.participants import ParticipantRepository
from crm_campaigns.repository.planning import EventRepository

router = APIRouter(tags=["public pages"])

_CONFIRM = {
    "accepted": "Thank you — you accepted the invitation. We look forward to seeing you.",
    "declined": "You declined the invitation. Thank you for letting us know.",
}


_PAGE_STATUSES = {
    404: "The link is not valid, or its event or participant is unknown: a readable page",
    409: "The event no longer takes answers: a readable page",
    410: "The link has expired, or the event was cancelled: a readable page",
    422: "The form is incomplete or invalid: the page again, saying what to fix",
    429: "Too many posts from this link or address: a readable page, with Retry-After",
}


def _answer_values(schema: dict[str, Any]) -> None:
    """The answer's documented values. Nothing chosen (the form's default) or another value is
    answered with the page again (422), not a problem, so neither is a value to offer."""
    schema.pop("default", None)
    schema["enum"] = sorted(_CONFIRM)


def page_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI for the HTML pages a public route answers with besides 200. A 422 may also
    be the kit's problem+json, when the request itself cannot be read as a form."""
    html = {"text/html": {"schema": {"type": "string"}}}
    documented: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        content = dict(html)
        if status == 422:
            content.update(problem_responses(422)[422]["content"])
        documented[status] = {"description": _PAGE_STATUSES[status], "content": content}
    return documented


def bad_link(error: Exception) -> HTMLResponse:
    if isinstance(error, ExpiredLink):
        return pages.message(
            "This link has expired",
            "The link in your message is no longer valid. Please contact the organisers.",
            status_code=410,
            error=True,
        )
    return pages.message(
        "This link is not valid",
        "We could not recognise this link. Please open it exactly as it was sent to you.",
        status_code=404,
        error=True,
    )


async def too_frequent(runtime: RuntimeDep, request: Request, token: str) -> HTMLResponse | None:
    """The 429 page when this link or the caller's address posted too often, else None.
    Counted before the link is checked, so guessing links is bounded too."""
    address = request.client.host if request.client else None
    wait = await public_forms.too_frequent(runtime, link=token, address=address)
    if wait is None:
        return None
    return pages.message(
        "Please wait a moment",
        f"This form was sent too many times in a short while. Please try again in {wait} seconds.",
        status_code=429,
        error=True,
        headers={"Retry-After": str(wait)},
    )


def when(event: MarketingEvent) -> str:
    zone = ZoneInfo(event.slot.timezone)
    start = event.slot.starts_at.astimezone(zone)
    end = event.slot.ends_at.astimezone(zone)
    same_day = start.date() == end.date()
    end_text = end.strftime("%H:%M") if same_day else end.strftime("%d %B %Y %H:%M")
    return f"{start.strftime('%d %B %Y %H:%M')} – {end_text} ({event.slot.timezone})"


async def _load(
    runtime: RuntimeDep, token: str
) -> tuple[LinkClaims, MarketingEvent, Participant] | HTMLResponse:
    try:
        claims = handlers.signer(runtime).verify(LinkPurpose.ANSWER, token, now=utc_now())
        if claims.participant_id is None:
            raise InvalidLink("an answer link names its participant")
        event = await EventRepository(runtime).get(claims.event_id)
        participant = await ParticipantRepository(runtime).get(
            claims.event_id, claims.participant_id
        )
    except (InvalidLink, ExpiredLink) as exc:
        return bad_link(exc)
    except (Missing, NotFound) as exc:
        return bad_link(InvalidLink(str(exc)))
    return claims, event, participant


def _invitation_page(event: MarketingEvent, participant: Participant) -> HTMLResponse:
    return pages.render(
        "invitation.html",
        title=event.title,
        event=event,
        participant=participant,
        when=when(event),
        confirmation=_CONFIRM.get(participant.answer or "", ""),
        check_in_qr=pages.check_in_qr(participant.check_in_code),
    )


@router.get(
    "/i/{token}",
    response_class=HTMLResponse,
    responses=page_responses(404, 410),
    summary="The invitation answer page",
)
async def invitation_page(token: str, runtime: RuntimeDep) -> HTMLResponse:
    loaded = await _load(runtime, token)
    if isinstance(loaded, HTMLResponse):
        return loaded
    _, event, participant = loaded
    if event.status.value == "cancelled":
        return pages.message(event.title, "This event has been cancelled.", status_code=410)
    return _invitation_page(event, participant)


@router.post(
    "/i/{token}",
    response_class=HTMLResponse,
    responses=page_responses(404, 409, 410, 422, 429),
    summary="Accept or decline (a form)",
)
async def answer_invitation(
    token: str,
    request: Request,
    runtime: RuntimeDep,
    answer: Annotated[
        str,
        Form(
            max_length=20,
            description="`accepted` or `declined`; anything else shows the page again (422).",
            json_schema_extra=_answer_values,
        ),
    ] = "",
) -> HTMLResponse:
    if refused := await too_frequent(runtime, request, token):
        return refused
    loaded = await _load(runtime, token)
    if isinstance(loaded, HTMLResponse):
        return loaded
    claims, event, participant = loaded
    if answer not in _CONFIRM:
        return pages.message(
            "Please choose an answer",
            "Go back and press either “Yes, I will come” or “No, I cannot come”.",
            status_code=422,
            error=True,
        )
    if event.status.value != "scheduled":
        return pages.message(
            event.title, "This event no longer takes answers.", status_code=409, error=True
        )
    try:
        assert claims.participant_id is not None
        participant = await handlers.answer(runtime, event.event_id, claims.participant_id, answer)
    except AlreadyAnswered:
        participant = await ParticipantRepository(runtime).get(
            event.event_id, participant.participant_id
        )
    except CampaignsError as exc:
        return pages.message(event.title, str(exc), status_code=409, error=True)
    return _invitation_page(event, participant)
