"""Read models proposals keeps of contacts' facts: clients (with the legal details a won deal
hands to the back office), their curators, their people (with the addresses the back office
reaches them at), employees, and the contact records linked to a proposal.

Every handler is idempotent on its own: state-carrying facts replace the copy only when their
version is newer, curator assignments only when they are later, contact records are upserted
by their id, a merge moves only the proposals still naming the merged client. A redelivered or
replayed event changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from crm_contracts.backoffice import BackofficeEvent
from crm_contracts.common import Address
from crm_contracts.contacts import (
    ClientExpired,
    ClientRegistered,
    ClientsMerged,
    ClientStatusChanged,
    ClientUpdated,
    ContactRecorded,
    CuratorAssigned,
    EmployeeRegistered,
    EmployeeUpdated,
    PersonAdded,
    PersonUpdated,
)
from crm_contracts.envelope import Envelope
from crm_contracts.values import ClientKind, ProposalStatus
from crm_kit.outbox import Document
from crm_kit.runtime import Runtime
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from crm_proposals.domain.proposal import ClientMerge
from crm_proposals.repository import CLIENTS, EMPLOYEES, PEOPLE, PROPOSAL_CONTACTS, back_office
from crm_proposals.repository.proposals import ProposalRepository


async def _upsert_guarded(
    collection: AsyncCollection[Document],
    key: str,
    guard_field: str,
    value: Any,
    fields: dict[str, Any],
) -> None:
    # The filter misses when the stored copy is as new or newer; the upsert's insert then
    # collides on _id, which is exactly "already up to date".
    with contextlib.suppress(DuplicateKeyError):
        await collection.update_one(
            {
                "_id": key,
                "$or": [{guard_field: {"$lt": value}}, {guard_field: {"$exists": False}}],
            },
            {"$set": {**fields, guard_field: value}},
            upsert=True,
        )


def _legal_address(addresses: tuple[Address, ...]) -> Address | None:
    """The address a contract names: the legal one, else the first on record."""
    return next((a for a in addresses if a.kind == "legal"), addresses[0] if addresses else None)


async def on_client_state(
    rt: Runtime, event: ClientRegistered | ClientUpdated, _: Envelope
) -> None:
    address = _legal_address(event.addresses)
    await _upsert_guarded(
        rt.db[CLIENTS],
        event.client_id,
        "version",
        event.version,
        {
            "name": event.name,
            "status": event.status.value,
            "kind": event.kind.value,
            "tax_id": event.tax_id,
            "country": event.country,
            "legal_address": address.model_dump(mode="json") if address else None,
        },
    )


async def on_client_status_changed(rt: Runtime, event: ClientStatusChanged, _: Envelope) -> None:
    await _upsert_guarded(
        rt.db[CLIENTS], event.client_id, "version", event.version, {"status": event.to_status.value}
    )


async def on_curator_assigned(rt: Runtime, event: CuratorAssigned, _: Envelope) -> None:
    await _upsert_guarded(
        rt.db[CLIENTS],
        event.client_id,
        "curator_assigned_at",
        event.assigned_at,
        {"curator_id": event.curator_id},
    )


async def on_clients_merged(rt: Runtime, event: ClientsMerged, _: Envelope) -> None:
    """The merged client points at the survivor, and its proposals move to the survivor.

    Each proposal moves in one guarded update (only while it still names the merged client),
    so a redelivered or replayed merge moves nothing twice.
    """
    await rt.db[CLIENTS].update_one(
        {"_id": event.merged_client_id},
        {"$set": {"merged_into": event.survivor_client_id}},
        upsert=True,
    )
    repo = ProposalRepository(rt)
    merge = ClientMerge(
        from_client_id=event.merged_client_id,
        to_client_id=event.survivor_client_id,
        at=event.merged_at,
    )
    for proposal_id in await repo.ids_of_client(event.merged_client_id):
        await repo.move_to_client(proposal_id, merge)
    # The merged client's people now belong to the survivor (a plain set: idempotent).
    await rt.db[PEOPLE].update_many(
        {"client_id": event.merged_client_id}, {"$set": {"client_id": event.survivor_client_id}}
    )


async def on_client_expired(rt: Runtime, event: ClientExpired, _: Envelope) -> None:
    """A prospect contacts deleted at the end of its retention: its copy, its people (those
    of the clients merged into it were moved to it) and its contact records go. Its proposals
    stay, naming a client this service no longer knows."""
    ids = [event.client_id, *event.merged_client_ids]
    if event.contact_ids:
        await rt.db[PROPOSAL_CONTACTS].delete_many({"_id": {"$in": list(event.contact_ids)}})
    await rt.db[PEOPLE].delete_many({"client_id": {"$in": ids}})
    await rt.db[CLIENTS].delete_many({"_id": {"$in": ids}})


async def on_person_state(rt: Runtime, event: PersonAdded | PersonUpdated, _: Envelope) -> None:
    fields: dict[str, Any] = {
        "client_id": event.client_id,
        "name": event.name,
        "position": event.position,
        "email": event.channels.email,
        "phone": event.channels.phone,
        "mobile": event.channels.mobile,
    }
    if isinstance(event, PersonAdded):
        fields["added_at"] = event.added_at  # orders a client's people: the first is the fallback
    await _upsert_guarded(rt.db[PEOPLE], event.person_id, "version", event.version, fields)


async def on_employee_state(
    rt: Runtime, event: EmployeeRegistered | EmployeeUpdated, _: Envelope
) -> None:
    await _upsert_guarded(
        rt.db[EMPLOYEES],
        event.employee_id,
        "version",
        event.version,
        {
            "name": event.name,
            "department": event.department.value,
            "role": event.role,
            "active": event.active,
        },
    )


async def on_contact_recorded(rt: Runtime, event: ContactRecorded, _: Envelope) -> None:
    if event.proposal_id is None:
        return
    await rt.db[PROPOSAL_CONTACTS].update_one(
        {"_id": event.contact_id},
        {
            "$set": {
                "proposal_id": event.proposal_id,
                "client_id": event.client_id,
                "employee_id": event.employee_id,
                "kind": event.kind.value,
                "occurred_at": event.occurred_at,
                "summary": event.summary,
                "outcome": event.outcome,
                "need_item_codes": list(event.need_item_codes),
                "need_tags": list(event.need_tags),
            }
        },
        upsert=True,
    )


@dataclass(frozen=True)
class KnownClient:
    client_id: str
    name: str | None
    status: str | None
    curator_id: str | None
    merged_into: str | None
    kind: ClientKind | None = None
    tax_id: str | None = None
    country: str | None = None
    legal_address: Address | None = None


@dataclass(frozen=True)
class KnownPerson:
    """A client's person as contacts last described them."""

    person_id: str
    client_id: str
    name: str
    position: str | None = None
    email: str | None = None
    phone: str | None = None
    mobile: str | None = None

    @classmethod
    def of(cls, doc: Document) -> KnownPerson:
        return cls(
            person_id=doc["_id"],
            client_id=doc["client_id"],
            name=doc.get("name") or "",
            position=doc.get("position"),
            email=doc.get("email"),
            phone=doc.get("phone"),
            mobile=doc.get("mobile"),
        )


@dataclass(frozen=True)
class KnownEmployee:
    employee_id: str
    name: str
    active: bool
    department: str | None = None


class Projections:
    """Lookups in the read models."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def client(self, client_id: str) -> KnownClient | None:
        doc = await self.db[CLIENTS].find_one({"_id": client_id})
        if doc is None or ("version" not in doc and "merged_into" not in doc):
            return None  # only a curator assignment arrived so far: not yet registered
        address = doc.get("legal_address")
        return KnownClient(
            client_id,
            doc.get("name"),
            doc.get("status"),
            doc.get("curator_id"),
            doc.get("merged_into"),
            kind=ClientKind(doc["kind"]) if doc.get("kind") else None,
            tax_id=doc.get("tax_id"),
            country=doc.get("country"),
            legal_address=Address.model_validate(address) if address else None,
        )

    async def employees(self, ids: set[str]) -> dict[str, KnownEmployee]:
        cursor = self.db[EMPLOYEES].find({"_id": {"$in": sorted(ids)}})
        return {
            d["_id"]: KnownEmployee(
                d["_id"], d.get("name", ""), bool(d.get("active", True)), d.get("department")
            )
            async for d in cursor
        }

    async def people(self, ids: set[str]) -> dict[str, str]:
        """Person id → the client the person belongs to, for the known ones."""
        cursor = self.db[PEOPLE].find({"_id": {"$in": sorted(ids)}}, {"client_id": 1})
        return {d["_id"]: d["client_id"] async for d in cursor}

    async def contact_person(
        self, client_id: str, candidates: Sequence[str] = ()
    ) -> KnownPerson | None:
        """The first of ``candidates`` (person ids, in order of preference) known as the
        client's person, else the client's first person on record, else ``None``. An erased
        person is no one to contact."""
        live = {"erased_at": {"$exists": False}}
        if candidates:
            cursor = self.db[PEOPLE].find(
                {"_id": {"$in": list(candidates)}, "client_id": client_id, **live}
            )
            known = {d["_id"]: d async for d in cursor}
            for person_id in candidates:
                if person_id in known:
                    return KnownPerson.of(known[person_id])
        cursor = (
            self.db[PEOPLE]
            .find({"client_id": client_id, **live})
            .sort([("added_at", 1), ("_id", 1)])
        )
        async for doc in cursor.limit(1):
            return KnownPerson.of(doc)
        return None

    async def contacts_of(self, proposal_id: str) -> list[Document]:
        cursor = (
            self.db[PROPOSAL_CONTACTS].find({"proposal_id": proposal_id}).sort("occurred_at", 1)
        )
        return [d async for d in cursor]


# -- the back office --------------------------------------------------------------------------
class BackOfficeFactRefused(ValueError):
    """A back-office fact about a proposal this service does not have, or did not win: the
    consumer retries it a bounded number of times and then dead-letters it."""


async def on_back_office_fact(rt: Runtime, e: BackofficeEvent, env: Envelope) -> None:
    """Keep what a back-office system said about a won proposal (its stage, its documents)."""
    proposal = await ProposalRepository(rt).get(e.proposal_id)
    if proposal is None:
        raise BackOfficeFactRefused(f"{e.event_type} names proposal {e.proposal_id}, unknown here")
    if proposal.status is not ProposalStatus.WON:
        raise BackOfficeFactRefused(
            f"{e.event_type} names proposal {e.proposal_id}, which is {proposal.status.value}, "
            "not won"
        )
    amount = getattr(e, "amount", None)
    await back_office.add_fact(
        rt.db,
        e.proposal_id,
        {
            "key": f"{e.event_type}:{e.system}:{e.document_number}",
            "event_type": e.event_type,
            "system": e.system,
            "document_number": e.document_number,
            "at": e.happened_at,
            "amount": amount.model_dump(mode="json") if amount else None,
            "reason": getattr(e, "reason", None),
            "client_id": e.client_id,
            "event_id": str(env.event_id),
        },
    )
