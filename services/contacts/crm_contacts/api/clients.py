"""Routes on clients: register, read, search, update, status, curator, merge, duplicates."""

from __future__ import annotations

from typing import Annotated, Any

from crm_contracts.values import ClientStatus
from crm_kit.fields import DomainDateTime
from crm_kit.http import BoundedLabel, IdPath, IdQuery
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Query, Response, status
from fastapi.responses import JSONResponse

from crm_contacts import commands
from crm_contacts.api.common import (
    Admin,
    Cursor,
    IfMatch,
    Insist,
    Limit,
    Reader,
    Writer,
    set_etag,
)
from crm_contacts.handlers import clients as handlers
from crm_contacts.handlers import duplicates
from crm_contacts.repository import ClientFilter
from crm_contacts.schemas.clients import (
    ClientCreate,
    ClientOut,
    ClientPatch,
    CuratorIn,
    CuratorOut,
    DismissalIn,
    DismissalOut,
    DuplicatePairOut,
    MergeIn,
    MergeOut,
    StatusChange,
)
from crm_contacts.schemas.common import Page

router = APIRouter(tags=["clients"])


def _merged_response(description: str) -> dict[str, Any]:
    """OpenAPI of :func:`_merged_pointer`'s answer."""
    pointer = {
        "type": "object",
        "properties": {"id": {"type": "string"}, "merged_into": {"type": "string"}},
        "required": ["id", "merged_into"],
    }
    return {"description": description, "content": {"application/json": {"schema": pointer}}}


def _merged_pointer(client_id: IdPath, survivor_id: IdPath, suffix: str = "") -> JSONResponse:
    """What a read of a merged client answers: where its survivor is."""
    return JSONResponse(
        {"id": client_id, "merged_into": survivor_id},
        status_code=status.HTTP_301_MOVED_PERMANENTLY,
        headers={"Location": f"/clients/{survivor_id}{suffix}"},
    )


@router.post(
    "/clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ClientOut,
    responses=problem_responses(409, 422),
    summary="Register a client (it starts as a potential one)",
    description="A likely duplicate (an existing client with the same tax id or normalised "
    "name, or holding one of the given people's normalised e-mail addresses or phones) is "
    "refused with 409 listing the `candidates` and nothing is stored, unless `insist=true`.",
)
async def register_client(
    body: ClientCreate,
    runtime: RuntimeDep,
    caller: Writer,
    response: Response,
    insist: Insist = False,
) -> ClientOut:
    client = await handlers.register_client(
        runtime, body.to_command(insist=insist), by=caller.subject
    )
    response.headers["Location"] = f"/clients/{client.client_id}"
    set_etag(response, client.version)
    return ClientOut.of(client, personal=caller.sees_personal_data)


@router.get(
    "/clients",
    response_model=Page[ClientOut],
    responses=problem_responses(422),
    summary="Search clients by portrait, curator, period and text",
    description="Filters combine with AND; repeated `status`, `region`, `field_of_activity` "
    "mean any of them, repeated `tag` all of them. `q` matches a client whose name has a word "
    "starting with each of its words (case, accents, punctuation and legal forms such as LLC "
    "aside); with `@` or `.` in it, also a person's e-mail address from the start of one of "
    "its parts (`petrov@acme` finds `ivan.petrov@acme.example`); written like a phone number, "
    "also a person's phone holding its digits (these two only for roles that see personal "
    "data, docs/authorization.md). Ordered by registration time, then id.",
)
async def search_clients(
    runtime: RuntimeDep,
    caller: Reader,
    cursor: Cursor,
    status_: Annotated[list[ClientStatus], Query(alias="status", max_length=10)] = [],  # noqa: B006
    field_of_activity: Annotated[list[BoundedLabel], Query(max_length=20)] = [],  # noqa: B006
    region: Annotated[list[BoundedLabel], Query(max_length=20)] = [],  # noqa: B006
    tag: Annotated[list[BoundedLabel], Query(max_length=20)] = [],  # noqa: B006
    curator_id: IdQuery = None,
    registered_from: DomainDateTime | None = None,
    registered_to: DomainDateTime | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 50,
) -> Page[ClientOut]:
    where = ClientFilter(
        statuses=tuple(status_),
        activity_codes=tuple(field_of_activity),
        regions=tuple(region),
        tags=tuple(tag),
        curator_id=curator_id,
        registered_from=registered_from,
        registered_to=registered_to,
        text=q,
        by_channels=caller.sees_personal_data,
    )
    page = await handlers.search_clients(runtime, where, cursor=cursor.position, limit=limit)
    return Page[ClientOut](
        items=[ClientOut.of(c, personal=caller.sees_personal_data) for c in page.items],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.get(
    "/clients/{client_id}",
    response_model=ClientOut,
    responses={
        **problem_responses(404),
        301: _merged_response("The client was merged; `Location` names the survivor"),
    },
    summary="One client",
)
async def get_client(
    client_id: IdPath, runtime: RuntimeDep, caller: Reader, response: Response
) -> ClientOut | JSONResponse:
    client = await handlers.get_client(runtime, client_id)
    if client.merged_into is not None:
        return _merged_pointer(client.client_id, client.merged_into)
    set_etag(response, client.version)
    return ClientOut.of(client, personal=caller.sees_personal_data)


@router.patch(
    "/clients/{client_id}",
    response_model=ClientOut,
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Change a client's details (not its status)",
)
async def update_client(
    client_id: IdPath,
    body: ClientPatch,
    caller: Writer,
    version: IfMatch,
    runtime: RuntimeDep,
    response: Response,
) -> ClientOut:
    command = commands.UpdateClient(client_id, version, body.changes())
    client = await handlers.update_client(runtime, command, by=caller.subject)
    set_etag(response, client.version)
    return ClientOut.of(client, personal=caller.sees_personal_data)


@router.post(
    "/clients/{client_id}/status",
    response_model=ClientOut,
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Move a client along its lifecycle",
    description="potential → active | partner | dealer; active → former | partner | dealer; "
    "partner, dealer → active | former; former → active. Any other move is a 409.",
)
async def change_status(
    client_id: IdPath,
    body: StatusChange,
    caller: Writer,
    version: IfMatch,
    runtime: RuntimeDep,
    response: Response,
) -> ClientOut:
    command = commands.ChangeClientStatus(client_id, version, body.status, body.reason)
    client = await handlers.change_status(runtime, command, by=caller.subject)
    set_etag(response, client.version)
    return ClientOut.of(client, personal=caller.sees_personal_data)


@router.get(
    "/clients/{client_id}/curator",
    response_model=CuratorOut,
    responses={
        **problem_responses(404, 409),
        301: _merged_response("The client was merged; `Location` names the survivor's curator"),
    },
    summary="The client's curator and the history of curators",
)
async def get_curator(
    client_id: IdPath, runtime: RuntimeDep, caller: Reader, response: Response
) -> CuratorOut | JSONResponse:
    client = await handlers.get_client(runtime, client_id)
    if client.merged_into is not None:
        return _merged_pointer(client.client_id, client.merged_into, "/curator")
    set_etag(response, client.version)
    return CuratorOut.of(client)


@router.put(
    "/clients/{client_id}/curator",
    response_model=CuratorOut,
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Assign or reassign the curator (an active sales employee)",
)
async def assign_curator(
    client_id: IdPath,
    body: CuratorIn,
    caller: Writer,
    version: IfMatch,
    runtime: RuntimeDep,
    response: Response,
) -> CuratorOut:
    command = commands.AssignCurator(client_id, version, body.employee_id)
    client = await handlers.assign_curator(runtime, command, by=caller.subject)
    set_etag(response, client.version)
    return CuratorOut.of(client)


@router.post(
    "/clients/{client_id}/merge",
    response_model=MergeOut,
    responses=problem_responses(404, 409, 422),
    summary="Merge a duplicate into this client (the survivor)",
    description="The duplicate's people and contact records move here; the duplicate's id "
    "then answers 301 pointing at this client. Asking again finishes an interrupted merge.",
)
async def merge(
    client_id: IdPath, body: MergeIn, runtime: RuntimeDep, caller: Admin, response: Response
) -> MergeOut:
    result = await duplicates.merge_clients(
        runtime, commands.MergeClients(client_id, body.merged_client_id), by=caller.subject
    )
    set_etag(response, result.survivor.version)
    return MergeOut(
        survivor=ClientOut.of(result.survivor, personal=caller.sees_personal_data),
        merged_client_id=result.merged_id,
        moved_person_ids=list(result.moved_person_ids),
        moved_contact_ids=list(result.moved_contact_ids),
    )


@router.get(
    "/duplicates",
    response_model=Page[DuplicatePairOut],
    responses=problem_responses(422),
    summary="Likely duplicate pairs of clients",
    description="Pairs of live clients sharing a tax id, normalised name, or a person's "
    "normalised e-mail or phone, ordered by their ids. A pair dismissed as not a duplicate is "
    "left out until it shares something it did not share when dismissed.",
)
async def list_duplicates(
    runtime: RuntimeDep, _: Reader, cursor: Cursor, limit: Limit = 50
) -> Page[DuplicatePairOut]:
    page = await duplicates.likely_duplicates(runtime, cursor=cursor.position, limit=limit)
    return Page[DuplicatePairOut](
        items=[
            DuplicatePairOut(
                client_ids=(p.first[0], p.second[0]),
                names=(p.first[1], p.second[1]),
                reasons=list(p.reasons),
            )
            for p in page.items
        ],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.post(
    "/duplicates/dismissals",
    response_model=DismissalOut,
    status_code=status.HTTP_201_CREATED,
    responses={
        **problem_responses(409, 422),
        200: {"model": DismissalOut, "description": "The pair was dismissed before"},
    },
    summary="Record that two clients are not duplicates",
    description="The pair no longer shows in `/duplicates`; who dismissed it and when are "
    "kept. Dismissing a pair again answers 200 with the first record.",
)
async def dismiss_pair(
    body: DismissalIn, runtime: RuntimeDep, caller: Writer, response: Response
) -> DismissalOut:
    first, second = body.client_ids
    dismissal, created = await duplicates.dismiss_pair(
        runtime, (first, second), note=body.note, by=caller.subject
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    # A dismissal has no page of its own: it is read in the list of dismissals.
    response.headers["Location"] = "/duplicates/dismissals"
    return DismissalOut.of(dismissal)


@router.get(
    "/duplicates/dismissals",
    response_model=Page[DismissalOut],
    responses=problem_responses(422),
    summary="Pairs dismissed as not duplicates, oldest first",
)
async def list_dismissals(
    runtime: RuntimeDep, caller: Reader, cursor: Cursor, limit: Limit = 50
) -> Page[DismissalOut]:
    page = await duplicates.dismissals(runtime, cursor=cursor.position, limit=limit)
    return Page[DismissalOut](
        items=[DismissalOut.of(d) for d in page.items], next_cursor=cursor.next(page.next_cursor)
    )
