"""``GET /audit/{entity_id}``: a service's audit trail of one entity (see ``crm_kit.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from crm_kit.audit import AUDIT
from crm_kit.auth import requires
from crm_kit.cursors import BadCursor, PageCursor
from crm_kit.http import IdPath
from crm_kit.runtime import RuntimeDep

Document = dict[str, Any]


class ActorOut(BaseModel):
    app: str = Field(description="The app that called (the provider's client id).")
    employee_id: str | None = Field(description="The employee it acted for; null: the app.")


class AuditEntryOut(BaseModel):
    event_type: str = Field(description="What changed, as the event it published.")
    event_id: str
    topic: str | None = Field(
        description="Where the event went; null for an operation that publishes none (an export)."
    )
    occurred_at: datetime
    actor: ActorOut
    correlation_id: str | None


class AuditPage(BaseModel):
    items: list[AuditEntryOut]
    next_cursor: str | None


def router(service: str) -> APIRouter:
    """``GET /audit/{entity_id}`` for ``service``, open to its readers."""
    routes = APIRouter(tags=["audit"])

    @routes.get(
        "/audit/{entity_id}",
        dependencies=[Depends(requires(f"{service}:read"))],
        response_model=AuditPage,
        summary="Who changed this entity, when, and through which app (oldest first)",
    )
    async def audit_trail(
        entity_id: IdPath,
        runtime: RuntimeDep,
        cursor: PageCursor,
        limit: Annotated[int, Query(ge=1, le=200, description="Page size.")] = 50,
    ) -> AuditPage:
        where: Document = {"entity": entity_id}
        if cursor.position is not None:
            try:
                where["_id"] = {"$gt": ObjectId(cursor.position)}
            except InvalidId as exc:  # signed by us, so only an old format could do this
                raise BadCursor() from exc
        found = await runtime.db[AUDIT].find(where).sort("_id", 1).limit(limit + 1).to_list()
        more = len(found) > limit
        items = found[:limit]
        return AuditPage(
            items=[
                AuditEntryOut(
                    event_type=d["event_type"],
                    event_id=d["event_id"],
                    topic=d["topic"],
                    occurred_at=d["occurred_at"],
                    actor=ActorOut(**d["actor"]),
                    correlation_id=d.get("correlation_id"),
                )
                for d in items
            ],
            next_cursor=cursor.next(str(items[-1]["_id"]) if more else None),
        )

    return routes
