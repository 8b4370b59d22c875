"""The stored shapes: domain objects to documents and back (never the HTTP or event shape)."""

from __future__ import annotations

from typing import Any

from crm_contracts.values import (
    Channel,
    ClientKind,
    ClientSize,
    ClientSourceKind,
    ClientStatus,
    ContactDirection,
    ContactKind,
    Department,
    Language,
)
from crm_kit.outbox import Document

from crm_contacts import domain
from crm_contacts.repository.search import (
    SEARCH_CHANNELS,
    SEARCH_TERMS,
    search_channels,
    search_terms,
)


def channels_doc(channels: domain.Channels) -> Document:
    return {c.value: channels.address(c) for c in Channel}


def channels_of(doc: Document | None) -> domain.Channels:
    doc = doc or {}
    return domain.Channels(**{c.value: doc.get(c.value) for c in Channel})


def person_doc(p: domain.Person) -> Document:
    return {
        "person_id": p.person_id,
        "name": p.name,
        "position": p.position,
        "department": p.department,
        "language": p.language.value,
        "channels": channels_doc(p.channels),
        "preferred_channel": p.preferred_channel.value if p.preferred_channel else None,
        "consents": [
            {"channel": c.channel.value, "granted": c.granted, "at": c.at, "source": c.source}
            for c in p.consents
        ],
        "added_at": p.added_at,
        "updated_at": p.updated_at,
        "version": p.version,
        "erased_at": p.erased_at,
    }


def person_of(doc: Document) -> domain.Person:
    return domain.Person(
        person_id=doc["person_id"],
        name=doc["name"],
        position=doc.get("position"),
        department=doc.get("department"),
        language=Language(doc["language"]),
        channels=channels_of(doc.get("channels")),
        preferred_channel=Channel(doc["preferred_channel"])
        if doc.get("preferred_channel")
        else None,
        consents=tuple(
            domain.Consent(Channel(c["channel"]), c["granted"], c["at"], c["source"])
            for c in doc.get("consents", ())
        ),
        added_at=doc["added_at"],
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 1),
        erased_at=doc.get("erased_at"),
    )


def client_doc(client: domain.Client) -> Document:
    """The whole client state, with what search and duplicate matching need beside it."""
    activity = client.field_of_activity
    return {
        "_id": client.client_id,
        "kind": client.kind.value,
        "name": client.name,
        "status": client.status.value,
        "tax_id": client.tax_id,
        "country": client.country,
        "field_of_activity": {"code": activity.code, "label": activity.label} if activity else None,
        "region": client.region,
        "size": client.size.value if client.size else None,
        "tags": list(client.tags),
        "website": client.website,
        "addresses": [
            {
                "kind": a.kind,
                "text": a.text,
                "city": a.city,
                "postal_code": a.postal_code,
                "country": a.country,
            }
            for a in client.addresses
        ],
        "source": {
            "kind": client.source.kind.value,
            "event_id": client.source.event_id,
            "programme_id": client.source.programme_id,
            "questionnaire_response_id": client.source.questionnaire_response_id,
            "note": client.source.note,
        },
        "registered_at": client.registered_at,
        "registered_by": client.registered_by,
        "updated_at": client.updated_at,
        "people": [person_doc(p) for p in client.people],
        "curators": [
            {
                "curator_id": t.curator_id,
                "assigned_at": t.assigned_at,
                "assigned_by": t.assigned_by,
                "ended_at": t.ended_at,
            }
            for t in client.curators
        ],
        "curator_id": client.curator_id,
        "merged_into": client.merged_into,
        "match_keys": list(client.match_keys()),
        SEARCH_TERMS: search_terms(client),
        SEARCH_CHANNELS: search_channels(client),
    }


def client_of(doc: Document) -> domain.Client:
    activity = doc.get("field_of_activity")
    source = doc.get("source") or {}
    if isinstance(source, str):  # the walking skeleton stored the kind alone
        source = {"kind": source, "event_id": doc.get("source_event_id")}
    return domain.Client(
        client_id=doc["_id"],
        kind=ClientKind(doc["kind"]),
        name=doc["name"],
        status=ClientStatus(doc["status"]),
        registered_at=doc["registered_at"],
        registered_by=doc.get("registered_by"),
        tax_id=doc.get("tax_id"),
        country=doc.get("country"),
        field_of_activity=domain.FieldOfActivity(activity["code"], activity["label"])
        if activity
        else None,
        region=doc.get("region"),
        size=ClientSize(doc["size"]) if doc.get("size") else None,
        tags=tuple(doc.get("tags", ())),
        website=doc.get("website"),
        addresses=tuple(
            domain.Address(
                text=a["text"],
                kind=a.get("kind", "legal"),
                city=a.get("city"),
                postal_code=a.get("postal_code"),
                country=a.get("country"),
            )
            for a in doc.get("addresses", ())
        ),
        source=domain.Source(
            kind=ClientSourceKind(source.get("kind", "manual")),
            event_id=source.get("event_id"),
            programme_id=source.get("programme_id"),
            questionnaire_response_id=source.get("questionnaire_response_id"),
            note=source.get("note"),
        ),
        people=tuple(person_of(p) for p in doc.get("people", ())),
        curators=tuple(
            domain.CuratorTerm(
                curator_id=t["curator_id"],
                assigned_at=t["assigned_at"],
                assigned_by=t.get("assigned_by"),
                ended_at=t.get("ended_at"),
            )
            for t in doc.get("curators", ())
        ),
        merged_into=doc.get("merged_into"),
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 1),
    )


def employee_doc(e: domain.Employee) -> Document:
    return {
        "_id": e.employee_id,
        "name": e.name,
        "department": e.department.value,
        "role": e.role,
        "language": e.language.value,
        "channels": channels_doc(e.channels),
        "preferred_channel": e.preferred_channel.value if e.preferred_channel else None,
        "active": e.active,
        "registered_at": e.registered_at,
        "updated_at": e.updated_at,
    }


def employee_of(doc: Document) -> domain.Employee:
    return domain.Employee(
        employee_id=doc["_id"],
        name=doc["name"],
        department=Department(doc["department"]),
        role=doc["role"],
        language=Language(doc.get("language", "ru")),
        channels=channels_of(doc.get("channels")),
        preferred_channel=Channel(doc["preferred_channel"])
        if doc.get("preferred_channel")
        else None,
        active=doc["active"],
        registered_at=doc["registered_at"],
        updated_at=doc.get("updated_at"),
        version=doc.get("version", 1),
    )


def record_doc(r: domain.ContactRecord) -> Document:
    return {
        "_id": r.contact_id,
        "client_id": r.client_id,
        "person_id": r.person_id,
        "employee_id": r.employee_id,
        "kind": r.kind.value,
        "direction": r.direction.value,
        "occurred_at": r.occurred_at,
        "summary": r.summary,
        "outcome": r.outcome,
        "need_item_codes": list(r.need_item_codes),
        "need_tags": list(r.need_tags),
        "event_id": r.event_id,
        "proposal_id": r.proposal_id,
        "recorded_at": r.recorded_at,
        "recorded_by": r.recorded_by,
        "questionnaire_response_id": r.questionnaire_response_id,
    }


def record_of(doc: Document) -> domain.ContactRecord:
    return domain.ContactRecord(
        contact_id=doc["_id"],
        client_id=doc["client_id"],
        person_id=doc.get("person_id"),
        employee_id=doc["employee_id"],
        kind=ContactKind(doc["kind"]),
        direction=ContactDirection(doc["direction"]),
        occurred_at=doc["occurred_at"],
        summary=doc["summary"],
        outcome=doc.get("outcome"),
        need_item_codes=tuple(doc.get("need_item_codes", ())),
        need_tags=tuple(doc.get("need_tags", ())),
        event_id=doc.get("event_id"),
        proposal_id=doc.get("proposal_id"),
        recorded_at=doc["recorded_at"],
        recorded_by=doc.get("recorded_by"),
        questionnaire_response_id=doc.get("questionnaire_response_id"),
    )


def without_id(doc: Document) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "_id"}
