"""``GET /people/{person_id}/personal-data``: what one service holds about a person.

Every service answers for its own store only (it never reads another's): contacts its person,
contact records and timeline, campaigns its copy of the person, participations and answers,
proposals its copy and the proposals the person takes part in, notify its copy and delivery log.
The caller (``crm personal-data export``) asks the four and merges their answers into one
document (docs/integration.md). The route needs the service's ``admin`` scope and the
``data-protection`` role (``crm_kit.access``), and each export is on the audit trail under the
person's id (``crm_kit.audit.record_operation``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from crm_kit.audit import record_operation
from crm_kit.auth import requires
from crm_kit.http import IdPath
from crm_kit.logs import current_actor, current_correlation_id
from crm_kit.problems import problem_responses
from crm_kit.runtime import Runtime, RuntimeDep

PERSONAL_DATA_EXPORTED = "PersonalDataExported"
"""The audit trail's name of an export."""


class PersonalData(BaseModel):
    """What a service holds about a person, named by what it is."""

    erased: bool = Field(description="Whether the person was erased here (nothing is left).")
    records: dict[str, list[dict[str, Any]]] = Field(
        description="The service's records about the person, by kind (e.g. `person`, "
        "`participations`); each a JSON object as the service's API shows it."
    )


class PersonalDataOut(PersonalData):
    service: str
    person_id: str
    exported_at: datetime


Collect = Callable[[Runtime, str], Awaitable[PersonalData]]


def router(service: str, collect: Collect) -> APIRouter:
    """The service's export route; ``collect`` gathers what its store holds about a person."""
    routes = APIRouter(tags=["personal data"])

    @routes.get(
        "/people/{person_id}/personal-data",
        dependencies=[Depends(requires(f"{service}:admin"))],
        response_model=PersonalDataOut,
        responses=problem_responses(),
        summary="Everything this service holds about a person (for their data export)",
        description="Part of a person's data export: the caller merges the four services' "
        "answers. An unknown person has empty records, an erased one only the traces that say "
        "so (ids, dates). Recorded on the audit trail "
        "under the person's id.",
    )
    async def personal_data(person_id: IdPath, runtime: RuntimeDep) -> PersonalDataOut:
        held = await collect(runtime, person_id)
        actor = current_actor()
        await record_operation(
            runtime.db,
            entity=person_id,
            operation=PERSONAL_DATA_EXPORTED,
            actor=actor.model_dump() if actor else None,
            correlation_id=current_correlation_id(),
        )
        return PersonalDataOut(
            service=service,
            person_id=person_id,
            exported_at=datetime.now(UTC),
            erased=held.erased,
            records=held.records,
        )

    return routes


def held(records: Mapping[str, Sequence[Mapping[str, Any]]], *, copy: str) -> PersonalData:
    """A service's part of an export from its stored documents by kind; the person counts as
    erased here when ``records[copy]`` (the service's copy of them) says so (``erased_at``)."""
    return PersonalData(
        erased=any(doc.get("erased_at") is not None for doc in records.get(copy, ())),
        records={kind: jsonable(docs) for kind, docs in records.items()},
    )


def jsonable(docs: Sequence[Mapping[str, Any]], drop: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Stored documents as plain JSON objects (``_id`` as ``id``), without ``drop``'s fields."""
    out = []
    for doc in docs:
        item = {("id" if k == "_id" else k): _plain(v) for k, v in doc.items() if k not in drop}
        out.append(item)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
