"""The notify HTTP API: delivery log, ad-hoc sends, templates, channels."""

from __future__ import annotations

from typing import Annotated

from crm_contracts.values import Channel, Language, NotificationKind
from crm_kit.auth import Principal, requires
from crm_kit.clock import utc_now
from crm_kit.cursors import PageCursor
from crm_kit.fields import QueryDateTime
from crm_kit.http import IdPath, PageLimit
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Depends, Header, Query, Response, status

from crm_notify.domain import KIND_VARIABLES, Status
from crm_notify.handlers import ad_hoc, settings_of
from crm_notify.repository import notifications, templates
from crm_notify.schemas import (
    AdHocSend,
    ChannelOut,
    NotificationOut,
    NotificationPage,
    TemplateIn,
    TemplateOut,
)
from crm_notify.templates import SHIPPED, Template, validate

router = APIRouter()
Reader = Annotated[Principal, Depends(requires("notify:read"))]
Sender = Annotated[Principal, Depends(requires("notify:send"))]
Admin = Annotated[Principal, Depends(requires("notify:admin"))]


@router.get(
    "/notifications",
    response_model=NotificationPage,
    tags=["notifications"],
    summary="The delivery log, newest first",
)
async def list_notifications(
    runtime: RuntimeDep,
    caller: Reader,
    cursor: PageCursor,
    recipient: Annotated[
        str | None,
        Query(
            max_length=320,
            description="person/employee id, or an address (roles that see personal data only)",
        ),
    ] = None,
    kind: NotificationKind | None = None,
    status: Status | None = None,
    source: Annotated[str | None, Query(max_length=64, description="the source event id")] = None,
    since: Annotated[QueryDateTime | None, Query(description="created at or after")] = None,
    until: Annotated[QueryDateTime | None, Query(description="created before")] = None,
    limit: PageLimit = 50,
) -> NotificationPage:
    docs = await notifications.list_notifications(
        runtime.db,
        recipient=recipient,
        by_address=caller.sees_personal_data,
        kind=kind,
        status=status,
        source=source,
        since=since,
        until=until,
        after=cursor.position,
        limit=limit + 1,
    )
    more = len(docs) > limit
    docs = docs[:limit]
    return NotificationPage(
        items=[NotificationOut.of(d, personal=caller.sees_personal_data) for d in docs],
        next_cursor=cursor.next(docs[-1]["seq"] if more else None),
    )


@router.get(
    "/notifications/{notification_id}",
    response_model=NotificationOut,
    tags=["notifications"],
    responses=problem_responses(404),
    summary="One notification",
)
async def get_notification(
    notification_id: IdPath, runtime: RuntimeDep, caller: Reader
) -> NotificationOut:
    doc = await notifications.find_notification(runtime.db, notification_id)
    if doc is None:
        raise NotFound(f"notification {notification_id} not found")
    return NotificationOut.of(doc, personal=caller.sees_personal_data)


@router.post(
    "/notifications",
    response_model=NotificationOut,
    status_code=status.HTTP_201_CREATED,
    tags=["notifications"],
    responses={
        200: {
            "model": NotificationOut,
            "description": "The Idempotency-Key was seen before: the same notification",
        },
        **problem_responses(409, 422),
    },
    summary="Send an ad-hoc message (201 new; 200 when the Idempotency-Key was seen)",
)
async def send_ad_hoc(
    body: AdHocSend,
    runtime: RuntimeDep,
    caller: Sender,
    response: Response,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> NotificationOut:
    doc, created = await ad_hoc.send_ad_hoc(
        runtime,
        caller=caller.subject,
        recipient=body.recipient.model_dump(mode="json"),
        channel=body.channel,
        subject=body.subject,
        body=body.body,
        language=body.language.value if body.language else None,
        idempotency_key=idempotency_key,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    response.headers["Location"] = f"/notifications/{doc['_id']}"
    return NotificationOut.of(doc, personal=caller.sees_personal_data)


def _template_out(
    kind: NotificationKind, language: Language, override: dict[str, object] | None
) -> TemplateOut:
    shipped = SHIPPED[(kind, language)]
    if override is None:
        return TemplateOut(
            kind=kind,
            language=language,
            subject=shipped.subject,
            text=shipped.text,
            html=shipped.html,
            variables=sorted(KIND_VARIABLES[kind]),
            customised=False,
        )
    return TemplateOut.model_validate(
        {
            **override,
            "kind": kind,
            "language": language,
            "variables": sorted(KIND_VARIABLES[kind]),
            "customised": True,
        }
    )


@router.get(
    "/templates", response_model=list[TemplateOut], tags=["templates"], summary="All templates"
)
async def list_templates(runtime: RuntimeDep, _: Reader) -> list[TemplateOut]:
    overrides = await templates.template_overrides(runtime.db)
    return [
        _template_out(kind, language, overrides.get(templates.template_key(kind, language)))
        for kind, language in SHIPPED
    ]


@router.get(
    "/templates/{kind}/{language}",
    response_model=TemplateOut,
    tags=["templates"],
    summary="The template in force for a kind and language",
)
async def get_template(
    kind: NotificationKind, language: Language, runtime: RuntimeDep, _: Reader
) -> TemplateOut:
    override = await templates.template_override(runtime.db, kind, language)
    return _template_out(kind, language, override)


@router.put(
    "/templates/{kind}/{language}",
    response_model=TemplateOut,
    tags=["templates"],
    responses=problem_responses(422),
    summary="Replace a template; one referring to a variable the kind lacks is refused",
)
async def put_template(
    kind: NotificationKind,
    language: Language,
    body: TemplateIn,
    runtime: RuntimeDep,
    caller: Admin,
) -> TemplateOut:
    template = Template(subject=body.subject, text=body.text, html=body.html)
    validate(kind, template)
    saved = await templates.save_template(
        runtime.db, kind, language, template, by=caller.subject, at=utc_now()
    )
    return _template_out(kind, language, saved)


@router.delete(
    "/templates/{kind}/{language}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["templates"],
    responses=problem_responses(404),
    summary="Go back to the shipped template",
)
async def reset_template(
    kind: NotificationKind, language: Language, runtime: RuntimeDep, _: Admin
) -> Response:
    if not await templates.delete_template(runtime.db, kind, language):
        raise NotFound(f"the {kind.value}/{language.value} template is not customised")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/channels", response_model=list[ChannelOut], tags=["channels"], summary="Channels")
async def list_channels(runtime: RuntimeDep, _: Reader) -> list[ChannelOut]:
    settings = settings_of(runtime)
    configured = settings.configured_channels()
    return [
        ChannelOut(
            channel=channel,
            configured=channel in configured,
            transport=settings.transport(channel),
            rate_per_s=settings.rate_limits.get(channel),
            position=configured.index(channel) if channel in configured else None,
        )
        for channel in Channel
    ]
