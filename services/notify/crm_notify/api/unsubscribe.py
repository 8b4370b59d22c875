"""The public unsubscribe link of a marketing message: ``/u/{token}``.

No bearer token here: the signed link is the credential. ``GET`` shows a confirmation page in
the person's language and changes nothing (mail scanners follow links); ``POST`` unsubscribes,
whether from that page's button or as the RFC 8058 one-click ``List-Unsubscribe-Post`` a mail
provider sends on the person's behalf, and answers 200 however often it is repeated. A link
notify did not make is a 404: a readable page for a browser, problem+json otherwise.
"""

from __future__ import annotations

from typing import Annotated, Any

from crm_contracts.values import UnsubscribeMethod
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse

from crm_notify import pages
from crm_notify.handlers import settings_of
from crm_notify.handlers import unsubscribe as handlers
from crm_notify.links import InvalidUnsubscribeLink, UnsubscribeClaims

router = APIRouter(tags=["unsubscribe"])

Token = Annotated[str, Path(max_length=1000, description="the signed unsubscribe token")]


def _responses() -> dict[int | str, dict[str, Any]]:
    html = {"text/html": {"schema": {"type": "string"}}}
    invalid = problem_responses(404)[404]
    content = {**invalid["content"], **html}
    return {
        200: {"content": html},
        404: {
            "description": "Not a link notify made: problem+json, or a page for a browser",
            "content": content,
        },
        **problem_responses(422),
    }


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def _claims(runtime: RuntimeDep, request: Request, token: str) -> UnsubscribeClaims | HTMLResponse:
    try:
        return handlers.verify(runtime, token)
    except InvalidUnsubscribeLink:
        if _wants_html(request):
            return pages.invalid(settings_of(runtime).default_language)
        raise


@router.get(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_responses(),
    summary="The unsubscribe confirmation page (changes nothing)",
)
async def unsubscribe_page(token: Token, request: Request, runtime: RuntimeDep) -> HTMLResponse:
    claims = _claims(runtime, request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    return pages.confirm(await handlers.language_of(runtime, claims), claims.channel)


@router.post(
    "/u/{token}",
    response_class=HTMLResponse,
    responses=_responses(),
    summary="Unsubscribe: the RFC 8058 one-click POST, or the confirmation page's button "
    "(UnsubscribeRequested); repeating it changes nothing",
)
async def unsubscribe(
    token: Token,
    request: Request,
    runtime: RuntimeDep,
    list_unsubscribe: Annotated[
        str | None,
        Form(alias="List-Unsubscribe", max_length=20, description="`One-Click` (RFC 8058)"),
    ] = None,
    via: Annotated[str | None, Form(max_length=20, description="`page` from the page")] = None,
) -> HTMLResponse:
    claims = _claims(runtime, request, token)
    if isinstance(claims, HTMLResponse):
        return claims
    method = UnsubscribeMethod.PAGE if via == "page" else UnsubscribeMethod.ONE_CLICK
    await handlers.unsubscribe(runtime, claims, method)
    return pages.done(await handlers.language_of(runtime, claims), claims.channel)
