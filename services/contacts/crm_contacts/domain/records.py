"""Contact records: any department's account of one contact with a client."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from crm_contracts.contacts import SYSTEM_EMPLOYEE_ID
from crm_contracts.values import ContactDirection, ContactKind

from crm_contacts.domain.errors import InvalidInputError
from crm_contacts.domain.parts import normalise_tags

SYSTEM_EMPLOYEE = SYSTEM_EMPLOYEE_ID
"""The employee id on records the service makes itself (a questionnaire from a known person)."""


@dataclass(frozen=True)
class ContactRecord:
    contact_id: str
    client_id: str
    employee_id: str
    kind: ContactKind
    direction: ContactDirection
    occurred_at: datetime
    summary: str
    recorded_at: datetime
    person_id: str | None = None
    outcome: str | None = None
    need_item_codes: tuple[str, ...] = ()
    need_tags: tuple[str, ...] = ()
    event_id: str | None = None
    proposal_id: str | None = None
    recorded_by: str | None = None
    questionnaire_response_id: str | None = None
    """The questionnaire response the record was made from (a known person answering one): its
    respondent's details are sealed under that response's key, destroyed with the person's."""


def record_contact(
    *,
    contact_id: str,
    client_id: str,
    employee_id: str,
    kind: ContactKind,
    direction: ContactDirection,
    occurred_at: datetime,
    summary: str,
    now: datetime,
    person_id: str | None = None,
    outcome: str | None = None,
    need_item_codes: tuple[str, ...] = (),
    need_tags: tuple[str, ...] = (),
    event_id: str | None = None,
    proposal_id: str | None = None,
    recorded_by: str | None = None,
    questionnaire_response_id: str | None = None,
) -> ContactRecord:
    text = summary.strip()
    if not text:
        raise InvalidInputError("the summary must not be blank", field="summary")
    if occurred_at.tzinfo is None:
        raise InvalidInputError("occurred_at needs a time zone", field="occurred_at")
    if occurred_at > now:
        raise InvalidInputError(
            "a contact cannot be recorded before it happens", field="occurred_at"
        )
    return ContactRecord(
        contact_id=contact_id,
        client_id=client_id,
        employee_id=employee_id,
        kind=kind,
        direction=direction,
        occurred_at=occurred_at.astimezone(UTC),
        summary=text,
        recorded_at=now,
        person_id=person_id,
        outcome=(outcome or "").strip() or None,
        need_item_codes=tuple(
            dict.fromkeys(c.strip().upper() for c in need_item_codes if c.strip())
        ),
        need_tags=normalise_tags(need_tags),
        event_id=event_id,
        proposal_id=proposal_id,
        recorded_by=recorded_by,
        questionnaire_response_id=questionnaire_response_id,
    )
