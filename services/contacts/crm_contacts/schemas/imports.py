"""HTTP shapes of the client import's report."""

from __future__ import annotations

from typing import Literal

from crm_contracts.values import ClientStatus
from crm_kit.problems import FieldError
from pydantic import BaseModel, Field

from crm_contacts.handlers.imports import ImportedRow

_MADE = ("created", "would_create")
_ADDED = ("person_added", "would_add_person")


class DuplicateCandidateOut(BaseModel):
    id: str
    name: str
    status: ClientStatus
    reasons: list[str] = Field(description="What the two share: tax_id, name, email, phone.")


class ClientImportRowOut(BaseModel):
    row: int = Field(description="The line number in the file (the header is line 1).")
    client_row: int = Field(description="The first row of this row's client.")
    status: Literal[
        "created",
        "would_create",
        "duplicate",
        "person_added",
        "would_add_person",
        "person_exists",
        "error",
    ] = Field(
        description="`would_create` and `would_add_person` only in a dry run; a `duplicate` "
        "row's client is not stored. A row of a client that exists already with the same tax "
        "id adds its person to that client (`person_added`), unless the client has the person "
        "already (the same e-mail or phone, or name within the client: `person_exists`)."
    )
    client_id: str | None = Field(
        default=None,
        description="The client created, or the existing client this row's client duplicates "
        "(or its person joins).",
    )
    person_id: str | None = Field(
        default=None,
        description="The person created from the row, or the existing client's person it is.",
    )
    duplicate_of: list[DuplicateCandidateOut] = Field(
        default_factory=list, description="The existing clients that look like this row's."
    )
    duplicate_of_row: int | None = Field(
        default=None, description="The first row of an earlier client of the same file it repeats."
    )
    errors: list[FieldError] = Field(
        default_factory=list, description="Each as `row[<line>].<column>` and what is wrong."
    )

    @classmethod
    def of(cls, r: ImportedRow) -> ClientImportRowOut:
        return cls.model_validate(
            {
                "row": r.row,
                "client_row": r.client_row,
                "status": r.status,
                "client_id": r.client_id,
                "person_id": r.person_id,
                "duplicate_of": r.duplicate_of,
                "duplicate_of_row": r.duplicate_of_row,
                "errors": r.errors,
            }
        )


class ClientImportOut(BaseModel):
    dry_run: bool
    created: int = Field(description="Clients created (in a dry run: that would be).")
    people: int = Field(description="People created with them (in a dry run: that would be).")
    people_added: int = Field(
        description="People added to existing clients of the same tax id (in a dry run: that "
        "would be)."
    )
    duplicates: int = Field(
        description="Clients not stored as duplicates (their people may still join the "
        "existing client: `people_added`)."
    )
    failed: int = Field(description="Rows with errors (their clients are not stored).")
    rows: list[ClientImportRowOut]

    @classmethod
    def of(cls, rows: list[ImportedRow], *, dry_run: bool) -> ClientImportOut:
        return cls(
            dry_run=dry_run,
            created=len({r.client_row for r in rows if r.status in _MADE}),
            people=sum(1 for r in rows if r.status in _MADE and r.with_person),
            people_added=sum(1 for r in rows if r.status in _ADDED),
            duplicates=len(
                {r.client_row for r in rows if r.status in ("duplicate", *_ADDED, "person_exists")}
            ),
            failed=sum(1 for r in rows if r.status == "error"),
            rows=[ClientImportRowOut.of(r) for r in rows],
        )
