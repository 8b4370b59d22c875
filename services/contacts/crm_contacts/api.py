"""The contacts HTTP API: parse, call a use case, map the result."""

from __future__ import annotations

from typing import Annotated

from crm_kit.auth import Principal, requires
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Depends, Response, status

from crm_contacts import domain, handlers
from crm_contacts.schemas import ClientCreate, ClientOut

router = APIRouter(tags=["clients"])
Reader = Annotated[Principal, Depends(requires("contacts:read"))]
Writer = Annotated[Principal, Depends(requires("contacts:write"))]


def _out(client: domain.Client) -> ClientOut:
    return ClientOut(
        id=client.client_id,
        kind=client.kind,
        name=client.name,
        status=client.status,
        tax_id=client.tax_id,
        country=client.country,
        region=client.region,
        size=client.size,
        tags=list(client.tags),
        website=client.website,
        source=client.source,
        registered_at=client.registered_at,
        version=client.version,
    )


@router.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientOut,
    responses=problem_responses(409, 422),
    summary="Register a client (it starts as a potential one)",
)
async def register_client(
    body: ClientCreate, runtime: RuntimeDep, caller: Writer, response: Response
) -> ClientOut:
    client = await handlers.register_client(runtime, body, by=caller.subject)
    response.headers["Location"] = f"/clients/{client.client_id}"
    response.headers["ETag"] = f'"{client.version}"'
    return _out(client)


@router.get(
    "/clients/{client_id}",
    response_model=ClientOut,
    responses=problem_responses(404),
    summary="One client",
)
async def get_client(
    client_id: str, runtime: RuntimeDep, _: Reader, response: Response
) -> ClientOut:
    client = await handlers.get_client(runtime, client_id)
    response.headers["ETag"] = f'"{client.version}"'
    return _out(client)
