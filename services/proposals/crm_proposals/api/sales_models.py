"""Sales models kept by analysts (writes need proposals:admin), and the model mined from deals."""

from __future__ import annotations

from typing import Annotated

from crm_kit.cursors import PageCursor
from crm_kit.http import IdPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status

from crm_proposals.api import views
from crm_proposals.api.common import (
    Admin,
    IfMatch,
    Reader,
    caller_of,
    expected_version,
    set_etag,
)
from crm_proposals.commands import AddModelVersion, DefineSalesModel, PublishSalesModel
from crm_proposals.domain.plan import ModelStep
from crm_proposals.handlers import sales_models as handlers
from crm_proposals.schemas import (
    MinedModelOut,
    MinedPublishIn,
    ModelStepIn,
    Page,
    PublishIn,
    SalesModelCreate,
    SalesModelOut,
    SalesModelVersionIn,
)

router = APIRouter(tags=["sales models"])


def _steps(steps: list[ModelStepIn]) -> tuple[ModelStep, ...]:
    return tuple(
        ModelStep(
            step_id=s.step_id,
            title=s.title,
            offset_days=s.offset_days,
            department=s.department,
            role=s.role,
            depends_on=tuple(s.depends_on),
            required=s.required,
            approval=s.approval,
        )
        for s in steps
    )


@router.get(
    "/sales-models/mined",
    summary="A model mined from closed deals: common steps, median offsets and durations, "
    "frequency in won vs lost deals, and open plans that skipped a decisive step",
)
async def mined(runtime: RuntimeDep, _: Reader) -> MinedModelOut:
    model, flagged = await handlers.mined(runtime)
    return views.mined_model(model, flagged)


@router.post(
    "/sales-models/mined/publish",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422),
    summary="Publish the mined model as a new sales model (publishes SalesModelPublished)",
)
async def publish_mined(
    body: MinedPublishIn, runtime: RuntimeDep, caller: Admin, response: Response
) -> SalesModelOut:
    model = await handlers.publish_mined(runtime, body.name, body.description, caller_of(caller))
    response.headers["Location"] = f"/sales-models/{model.model_id}"
    set_etag(response, model.version)
    return views.sales_model(model)


@router.post(
    "/sales-models",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(422),
    summary="Define a sales model (version 1, not yet published)",
)
async def create_model(
    body: SalesModelCreate, runtime: RuntimeDep, _: Admin, response: Response
) -> SalesModelOut:
    model = await handlers.define(
        runtime, DefineSalesModel(body.name, _steps(body.steps), body.description)
    )
    response.headers["Location"] = f"/sales-models/{model.model_id}"
    set_etag(response, model.version)
    return views.sales_model(model)


@router.get("/sales-models", summary="Sales models")
async def list_models(
    runtime: RuntimeDep,
    _: Reader,
    cursor: PageCursor,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Page[SalesModelOut]:
    models, nxt = await handlers.list_models(runtime, cursor=cursor.position, limit=limit)
    return Page(items=[views.sales_model(m) for m in models], next_cursor=cursor.next(nxt))


@router.get("/sales-models/{model_id}", responses=problem_responses(404), summary="One model")
async def get_model(
    model_id: IdPath, runtime: RuntimeDep, _: Reader, response: Response
) -> SalesModelOut:
    model = await handlers.get(runtime, model_id)
    set_etag(response, model.version)
    return views.sales_model(model)


@router.post(
    "/sales-models/{model_id}/versions",
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 412, 422, 428),
    summary="Add a new version of a model's steps",
)
async def add_version(
    model_id: IdPath,
    body: SalesModelVersionIn,
    runtime: RuntimeDep,
    _: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> SalesModelOut:
    model = await handlers.add_version(
        runtime, AddModelVersion(model_id, expected_version(if_match), _steps(body.steps))
    )
    set_etag(response, model.version)
    response.headers["Location"] = f"/sales-models/{model.model_id}"
    return views.sales_model(model)


@router.post(
    "/sales-models/{model_id}/publish",
    responses=problem_responses(404, 409, 412, 428),
    summary="Publish a version for plans to be generated from (publishes SalesModelPublished)",
)
async def publish(
    model_id: IdPath,
    body: PublishIn,
    runtime: RuntimeDep,
    caller: Admin,
    response: Response,
    if_match: IfMatch = None,
) -> SalesModelOut:
    model = await handlers.publish(
        runtime,
        PublishSalesModel(model_id, expected_version(if_match), body.version),
        caller_of(caller),
    )
    set_etag(response, model.version)
    return views.sales_model(model)
