"""Erasing a person or a client's people on request, and the person's data export part."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from crm_kit import personal_data
from crm_kit.auth import Principal, requires
from crm_kit.http import IdPath
from crm_kit.problems import problem_responses
from crm_kit.runtime import RuntimeDep
from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from crm_contacts.handlers import erasure as handlers

router = APIRouter(tags=["erasure"])
DataProtection = Annotated[Principal, Depends(requires("contacts:admin"))]


class ErasureOut(BaseModel):
    person_id: str
    client_id: str
    erased_at: datetime
    already_erased: bool = Field(
        description="The person was erased before this request: nothing changed."
    )

    @classmethod
    def of(cls, e: handlers.Erasure) -> ErasureOut:
        return cls(
            person_id=e.person_id,
            client_id=e.client_id,
            erased_at=e.erased_at,
            already_erased=e.already,
        )


class ClientErasureOut(BaseModel):
    client_id: str
    people: list[ErasureOut]
    details_erased: bool = Field(
        description="A private person's client: its name, tax id, website and addresses are "
        "erased too. An organisation's stay (they are no one's personal data)."
    )


@router.post(
    "/people/{person_id}/erasure",
    response_model=ErasureOut,
    responses=problem_responses(404),
    summary="Erase a person: every service forgets them, their past events read as erased",
    description="Destroys the person's data keys (their sealed fields in every event on the "
    "topics read as `[erased]` from now on), keeps only their id, language and dates, and "
    "publishes `PersonErased`, on which campaigns, proposals and notify forget their copies. "
    "Idempotent: erasing an erased person changes nothing (`already_erased`). On the client's "
    "audit trail.",
)
async def erase_person(person_id: IdPath, runtime: RuntimeDep, _: DataProtection) -> ErasureOut:
    return ErasureOut.of(await handlers.erase_person(runtime, person_id))


@router.post(
    "/clients/{client_id}/erasure",
    response_model=ClientErasureOut,
    responses=problem_responses(404),
    summary="Erase every person of a client (and a private person's client details)",
    description="Each person as `POST /people/{person_id}/erasure`; a private person's client "
    "also forgets its name, tax id, website and addresses (its key is destroyed, so they read "
    "as `[erased]` in its earlier events; `ClientUpdated` tells the other services). "
    "Idempotent.",
)
async def erase_client(
    client_id: IdPath, runtime: RuntimeDep, _: DataProtection
) -> ClientErasureOut:
    erased, details = await handlers.erase_client(runtime, client_id)
    return ClientErasureOut(
        client_id=client_id, people=[ErasureOut.of(e) for e in erased], details_erased=details
    )


export_router = personal_data.router("contacts", handlers.personal_data)
