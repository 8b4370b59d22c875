"""The campaigns HTTP API: parse, call a use case, map the result."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.http import IdPath
from crm_kit.problems import NotFound, problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Depends

from crm_campaigns import projections
from crm_campaigns.schemas import AudienceClient

router = APIRouter(tags=["audience"])
Reader = Annotated[Principal, Depends(requires("campaigns:read"))]


@router.get(
    "/audience/clients/{client_id}",
    response_model=AudienceClient,
    responses=problem_responses(404),
    summary="A client as campaigns sees it (its portrait, built from contacts' events)",
)
async def get_audience_client(client_id: IdPath, runtime: RuntimeDep, _: Reader) -> AudienceClient:
    doc = await projections.get_client(runtime.db, client_id)
    if doc is None:
        raise NotFound(f"client {client_id} is not known to campaigns (yet)")
    return AudienceClient(
        id=doc["_id"],
        name=doc["name"],
        kind=doc["kind"],
        status=doc["status"],
        field_of_activity=doc.get("field_of_activity"),
        region=doc.get("region"),
        size=doc.get("size"),
        tags=doc.get("tags", []),
        version=doc["version"],
    )
