"""Template overrides edited through ``/templates``, one per kind and language."""

from __future__ import annotations

from datetime import datetime

from crm_contracts.values import Language, NotificationKind
from crm_kit.outbox import Document
from crm_kit.query_plans import READS_ALL
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from crm_notify.repository import TEMPLATES
from crm_notify.templates import Template


def template_key(kind: NotificationKind, language: Language) -> str:
    return f"{kind.value}:{language.value}"


async def template_override(
    db: AsyncDatabase[Document], kind: NotificationKind, language: Language
) -> Document | None:
    return await db[TEMPLATES].find_one({"_id": template_key(kind, language)})


async def template_overrides(db: AsyncDatabase[Document]) -> dict[str, Document]:
    """Every edited template (one per kind and language at most)."""
    return {doc["_id"]: doc async for doc in db[TEMPLATES].find({}, comment=READS_ALL)}


async def save_template(
    db: AsyncDatabase[Document],
    kind: NotificationKind,
    language: Language,
    template: Template,
    *,
    by: str,
    at: datetime,
) -> Document:
    doc = await db[TEMPLATES].find_one_and_update(
        {"_id": template_key(kind, language)},
        {
            "$set": {
                "kind": kind.value,
                "language": language.value,
                "subject": template.subject,
                "text": template.text,
                "html": template.html,
                "updated_by": by,
                "updated_at": at,
            },
            "$inc": {"version": 1},
        },
        upsert=True,
        return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    return doc


async def delete_template(
    db: AsyncDatabase[Document], kind: NotificationKind, language: Language
) -> bool:
    result = await db[TEMPLATES].delete_one({"_id": template_key(kind, language)})
    return result.deleted_count == 1
