"""Routes on a client's people and their consent."""

from __future__ import annotations

from crm_contracts.values import Channel
from crm_kit.http import IdPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Response, status

from crm_contacts import commands
from crm_contacts.api.common import Cursor, IfMatch, Insist, Limit, Reader, Writer, set_etag
from crm_contacts.handlers import people as handlers
from crm_contacts.schemas.common import Page
from crm_contacts.schemas.people import ConsentIn, PersonCreate, PersonOut, PersonPatch

router = APIRouter(tags=["people"])


@router.post(
    "/clients/{client_id}/people",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    responses=problem_responses(404, 409, 422),
    summary="Add a person to a client",
    description="Channels are validated and normalised (phones to E.164; a number without + is "
    "read in the client's country). A person matching an existing one by e-mail or phone "
    "(anywhere) or by name (in this client) is refused with 409 listing the `candidates`, "
    "unless `insist=true`.",
)
async def add_person(
    client_id: IdPath,
    body: PersonCreate,
    runtime: RuntimeDep,
    caller: Writer,
    response: Response,
    insist: Insist = False,
) -> PersonOut:
    client, person = await handlers.add_person(runtime, body.to_command(client_id, insist=insist))
    response.headers["Location"] = f"/clients/{client.client_id}/people/{person.person_id}"
    set_etag(response, person.version)
    return PersonOut.of(client.client_id, person, personal=caller.sees_personal_data)


@router.get(
    "/clients/{client_id}/people",
    response_model=Page[PersonOut],
    responses=problem_responses(404, 409, 422),
    summary="A client's people, in the order they were added",
)
async def list_people(
    client_id: IdPath, runtime: RuntimeDep, caller: Reader, cursor: Cursor, limit: Limit = 50
) -> Page[PersonOut]:
    client, page = await handlers.people_page(
        runtime, client_id, cursor=cursor.position, limit=limit
    )
    return Page[PersonOut](
        items=[
            PersonOut.of(client.client_id, p, personal=caller.sees_personal_data)
            for p in page.items
        ],
        next_cursor=cursor.next(page.next_cursor),
    )


@router.get(
    "/clients/{client_id}/people/{person_id}",
    response_model=PersonOut,
    responses=problem_responses(404, 409),
    summary="One person of a client",
)
async def get_person(
    client_id: IdPath, person_id: IdPath, runtime: RuntimeDep, caller: Reader, response: Response
) -> PersonOut:
    client = await handlers.people_of(runtime, client_id)
    person = client.person(person_id)
    set_etag(response, person.version)
    return PersonOut.of(client.client_id, person, personal=caller.sees_personal_data)


@router.patch(
    "/clients/{client_id}/people/{person_id}",
    response_model=PersonOut,
    responses=problem_responses(404, 409, 412, 422, 428),
    summary="Change a person's details (If-Match: the person's ETag)",
)
async def update_person(
    client_id: IdPath,
    person_id: IdPath,
    body: PersonPatch,
    caller: Writer,
    version: IfMatch,
    runtime: RuntimeDep,
    response: Response,
) -> PersonOut:
    command = commands.UpdatePerson(client_id, person_id, version, body.changes())
    client, person = await handlers.update_person(runtime, command)
    set_etag(response, person.version)
    return PersonOut.of(client.client_id, person, personal=caller.sees_personal_data)


@router.put(
    "/clients/{client_id}/people/{person_id}/consents/{channel}",
    response_model=PersonOut,
    responses=problem_responses(404, 409, 422),
    summary="Give or withdraw consent for one channel",
    description="Idempotent: the same answer again changes nothing. Needs no If-Match, so that "
    "a withdrawal is never refused for being based on an older read. Withdrawing the "
    "preferred channel's consent clears the preference.",
)
async def set_consent(
    client_id: IdPath,
    person_id: IdPath,
    channel: Channel,
    body: ConsentIn,
    runtime: RuntimeDep,
    caller: Writer,
    response: Response,
) -> PersonOut:
    command = commands.SetConsent(client_id, person_id, channel, body.granted, body.source)
    client, person = await handlers.set_consent(runtime, command)
    set_etag(response, person.version)
    return PersonOut.of(client.client_id, person, personal=caller.sees_personal_data)
