"""Examples of the contacts service's events."""

from __future__ import annotations

from crm_contracts import contacts as ct
from crm_contracts.base import ContractEvent
from crm_contracts.common import ChannelAddresses, ChannelConsent, FieldOfActivity
from crm_contracts.examples._shared import AT, CHANNELS, CLIENT, EMPLOYEE, EVENT, PERSON
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

CLIENT_STATE = {
    "client_id": CLIENT,
    "kind": ClientKind.ORGANISATION,
    "name": "OOO Severstroy",
    "status": ClientStatus.POTENTIAL,
    "tax_id": "7701234567",
    "country": "RU",
    "field_of_activity": FieldOfActivity(code="41.20", label="Construction of buildings"),
    "region": "Moscow",
    "size": ClientSize.MEDIUM,
    "tags": ("construction", "b2b"),
    "source": ct.ClientSource(kind=ClientSourceKind.EVENT, event_id=EVENT),
}
PERSON_STATE = {
    "client_id": CLIENT,
    "person_id": PERSON,
    "name": "Irina Petrova",
    "position": "Chief engineer",
    "language": Language.RU,
    "channels": CHANNELS,
    "preferred_channel": Channel.EMAIL,
}
EMPLOYEE_STATE = {
    "employee_id": EMPLOYEE,
    "name": "Oleg Smirnov",
    "department": Department.SALES,
    "role": "manager",
    "channels": ChannelAddresses(email="o.smirnov@crm.example", pager="4711"),
    "active": True,
}


def contacts_examples() -> list[ContractEvent]:
    consent = ChannelConsent(channel=Channel.EMAIL, granted=True, at=AT, source="api")
    return [
        ct.ClientRegistered(**CLIENT_STATE, version=1, registered_at=AT),
        ct.ClientUpdated(**CLIENT_STATE, version=2, changed_fields=("region",), updated_at=AT),
        ct.ClientStatusChanged(
            client_id=CLIENT,
            from_status=ClientStatus.POTENTIAL,
            to_status=ClientStatus.ACTIVE,
            changed_at=AT,
            version=3,
        ),
        ct.PersonAdded(**PERSON_STATE, version=1, consents=(consent,), added_at=AT),
        ct.PersonUpdated(**PERSON_STATE, version=2, changed_fields=("position",), updated_at=AT),
        ct.PersonErased(
            client_id=CLIENT, person_id=PERSON, erased_at=AT, subjects=(f"person:{PERSON}",)
        ),
        ct.ConsentChanged(
            client_id=CLIENT,
            person_id=PERSON,
            channel=Channel.MOBILE,
            granted=False,
            at=AT,
            source="unsubscribe_link",
        ),
        ct.EmployeeRegistered(**EMPLOYEE_STATE, version=1, registered_at=AT),
        ct.EmployeeUpdated(**EMPLOYEE_STATE, version=2, changed_fields=("role",), updated_at=AT),
        ct.CuratorAssigned(
            client_id=CLIENT, client_name="OOO Severstroy", curator_id=EMPLOYEE, assigned_at=AT
        ),
        ct.ContactRecorded(
            contact_id="cnt-1",
            client_id=CLIENT,
            person_id=PERSON,
            employee_id=EMPLOYEE,
            kind=ContactKind.EVENT_TALK,
            direction=ContactDirection.INBOUND,
            occurred_at=AT,
            summary="Asked about installation terms",
            need_item_codes=("SRV-INSTALL",),
            event_id=EVENT,
            recorded_at=AT,
        ),
        ct.ClientsMerged(survivor_client_id=CLIENT, merged_client_id="dup-1", merged_at=AT),
        ct.ClientExpired(
            client_id=CLIENT,
            person_ids=(PERSON,),
            contact_ids=("contact-1",),
            last_activity_at=AT,
            retention_days=730,
            expired_at=AT,
        ),
    ]
