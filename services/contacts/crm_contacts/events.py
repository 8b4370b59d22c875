"""The one place where domain facts become ``crm_contracts`` events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from crm_contracts import contacts as c
from crm_contracts.base import ContractEvent
from crm_contracts.common import Address, ChannelAddresses, ChannelConsent, FieldOfActivity

from crm_contacts import domain
from crm_contacts.domain import facts


def channel_addresses(channels: domain.Channels) -> ChannelAddresses:
    return ChannelAddresses(
        email=channels.email,
        phone=channels.phone,
        mobile=channels.mobile,
        fax=channels.fax,
        pager=channels.pager,
    )


def _consents(person: domain.Person) -> tuple[ChannelConsent, ...]:
    return tuple(
        ChannelConsent(channel=x.channel, granted=x.granted, at=x.at, source=x.source)
        for x in person.consents
    )


def _state(client: domain.Client) -> dict[str, object]:
    activity = client.field_of_activity
    return {
        "client_id": client.client_id,
        "kind": client.kind,
        "name": client.name,
        "status": client.status,
        "tax_id": client.tax_id,
        "country": client.country,
        "field_of_activity": FieldOfActivity(code=activity.code, label=activity.label)
        if activity
        else None,
        "region": client.region,
        "size": client.size,
        "tags": client.tags,
        "website": client.website,
        "addresses": tuple(
            Address(
                kind=a.kind, text=a.text, city=a.city, postal_code=a.postal_code, country=a.country
            )
            for a in client.addresses
        ),
        "source": c.ClientSource(
            kind=client.source.kind,
            event_id=client.source.event_id,
            programme_id=client.source.programme_id,
            questionnaire_response_id=client.source.questionnaire_response_id,
            note=client.source.note,
        ),
        "version": client.version,
    }


def _person_state(client: domain.Client, person: domain.Person) -> dict[str, object]:
    return {
        "client_id": client.client_id,
        "person_id": person.person_id,
        "name": person.name,
        "position": person.position,
        "department": person.department,
        "language": person.language,
        "channels": channel_addresses(person.channels),
        "preferred_channel": person.preferred_channel,
        "version": person.version,
    }


def client_events(
    client: domain.Client, happened: Sequence[domain.Fact], *, now: datetime
) -> list[ContractEvent]:
    """The contract events for facts that left ``client`` in its current state."""
    out: list[ContractEvent] = []
    for fact in happened:
        match fact:
            case facts.ClientRegistered(by=by):
                out.append(
                    c.ClientRegistered.model_validate(
                        {
                            **_state(client),
                            "registered_at": client.registered_at,
                            "registered_by": by,
                        }
                    )
                )
            case facts.ClientUpdated(changed=changed, by=by):
                out.append(
                    c.ClientUpdated.model_validate(
                        {
                            **_state(client),
                            "changed_fields": changed,
                            "updated_at": now,
                            "updated_by": by,
                        }
                    )
                )
            case facts.StatusChanged(from_status=old, to_status=new, reason=reason, by=by):
                out.append(
                    c.ClientStatusChanged(
                        client_id=client.client_id,
                        from_status=old,
                        to_status=new,
                        reason=reason,
                        changed_at=now,
                        changed_by=by,
                        version=client.version,
                    )
                )
            case facts.PersonAdded(person_id=person_id):
                person = client.person(person_id)
                out.append(
                    c.PersonAdded.model_validate(
                        {
                            **_person_state(client, person),
                            "consents": _consents(person),
                            "added_at": person.added_at,
                        }
                    )
                )
            case facts.PersonUpdated(person_id=person_id, changed=changed):
                person = client.person(person_id)
                out.append(
                    c.PersonUpdated.model_validate(
                        {
                            **_person_state(client, person),
                            "changed_fields": changed,
                            "updated_at": now,
                        }
                    )
                )
            case facts.PersonErased(person_id=person_id, subjects=subjects):
                out.append(
                    c.PersonErased(
                        client_id=client.client_id,
                        person_id=person_id,
                        erased_at=now,
                        subjects=subjects,
                    )
                )
            case facts.ConsentChanged(person_id=person_id, consent=consent):
                out.append(
                    c.ConsentChanged(
                        client_id=client.client_id,
                        person_id=person_id,
                        channel=consent.channel,
                        granted=consent.granted,
                        at=consent.at,
                        source=consent.source,
                    )
                )
            case facts.CuratorAssigned(curator_id=curator_id, previous=previous, by=by):
                out.append(
                    c.CuratorAssigned(
                        client_id=client.client_id,
                        client_name=client.name,
                        curator_id=curator_id,
                        previous_curator_id=previous,
                        assigned_by=by,
                        assigned_at=now,
                    )
                )
    return out


def _employee_state(employee: domain.Employee) -> dict[str, object]:
    return {
        "employee_id": employee.employee_id,
        "name": employee.name,
        "department": employee.department,
        "role": employee.role,
        "language": employee.language,
        "channels": channel_addresses(employee.channels),
        "preferred_channel": employee.preferred_channel,
        "active": employee.active,
        "version": employee.version,
    }


def employee_registered(employee: domain.Employee) -> c.EmployeeRegistered:
    return c.EmployeeRegistered.model_validate(
        {**_employee_state(employee), "registered_at": employee.registered_at}
    )


def employee_updated(
    employee: domain.Employee, changed: tuple[str, ...], *, now: datetime
) -> c.EmployeeUpdated:
    return c.EmployeeUpdated.model_validate(
        {**_employee_state(employee), "changed_fields": changed, "updated_at": now}
    )


def contact_recorded(record: domain.ContactRecord) -> c.ContactRecorded:
    return c.ContactRecorded(
        contact_id=record.contact_id,
        client_id=record.client_id,
        person_id=record.person_id,
        employee_id=record.employee_id,
        kind=record.kind,
        direction=record.direction,
        occurred_at=record.occurred_at,
        summary=record.summary,
        outcome=record.outcome,
        need_item_codes=record.need_item_codes,
        need_tags=record.need_tags,
        event_id=record.event_id,
        proposal_id=record.proposal_id,
        recorded_at=record.recorded_at,
    )


def clients_merged(
    survivor_id: str,
    merged_id: str,
    person_ids: tuple[str, ...],
    contact_ids: tuple[str, ...],
    *,
    now: datetime,
    by: str | None,
) -> c.ClientsMerged:
    return c.ClientsMerged(
        survivor_client_id=survivor_id,
        merged_client_id=merged_id,
        moved_person_ids=person_ids,
        moved_contact_ids=contact_ids,
        merged_at=now,
        merged_by=by,
    )


def client_expired(client_id: str, fact: facts.ClientExpired) -> c.ClientExpired:
    return c.ClientExpired(
        client_id=client_id,
        person_ids=fact.person_ids,
        contact_ids=fact.contact_ids,
        merged_client_ids=fact.merged_client_ids,
        last_activity_at=fact.last_activity_at,
        retention_days=fact.retention_days,
        expired_at=fact.at,
    )
