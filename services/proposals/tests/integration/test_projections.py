"""The projections of contacts' facts are idempotent and order-safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contracts.contacts import (
    ClientExpired,
    ClientRegistered,
    ClientsMerged,
    ClientSource,
    ClientStatusChanged,
    ClientUpdated,
    ContactRecorded,
)
from crm_contracts.envelope import Envelope
from crm_contracts.proposals import ProposalStatusChanged
from crm_contracts.topics import PROPOSALS
from crm_contracts.values import (
    ClientKind,
    ClientSourceKind,
    ClientStatus,
    ContactDirection,
    ContactKind,
)
from crm_kit.testing import end_offsets, eventually, read_topic


def _state(cls: Any, client_id: str, name: str, version: int, **extra: Any) -> Any:
    return cls(
        client_id=client_id,
        kind=ClientKind.ORGANISATION,
        name=name,
        status=ClientStatus.ACTIVE,
        source=ClientSource(kind=ClientSourceKind.MANUAL),
        version=version,
        **extra,
    )


async def test_an_older_client_fact_arriving_again_does_not_undo_a_newer_one(crm: Any) -> None:
    client_id, _ = await crm.client_with_curator(name="Old name")
    now = datetime.now(UTC)
    renamed = _state(
        ClientUpdated, client_id, "New name", 2, changed_fields=("name",), updated_at=now
    )
    stale = _state(ClientRegistered, client_id, "Old name", 1, registered_at=now)
    await crm.publish(renamed, stale)
    await eventually(
        lambda: crm.db["client_projection"].find_one({"_id": client_id, "version": 2}),
        within=120,
        what="the rename projected",
    )
    # The stale fact shares the client's key, so it is handled before this later message
    # on the same partition: publish one more fact of that client and wait for it.
    await crm.publish(
        ClientsMerged(
            survivor_client_id=uuid.uuid4().hex, merged_client_id=client_id, merged_at=now
        )
    )
    await eventually(
        lambda: crm.db["client_projection"].find_one(
            {"_id": client_id, "merged_into": {"$exists": True}}
        ),
        within=120,
        what="the fact after the stale one",
    )
    doc = await crm.db["client_projection"].find_one({"_id": client_id})
    assert (doc["name"], doc["version"]) == ("New name", 2)


async def test_a_proposal_to_a_merged_client_is_refused_naming_the_survivor(crm: Any) -> None:
    merged, _ = await crm.client_with_curator()
    survivor = uuid.uuid4().hex
    await crm.publish(
        ClientsMerged(
            survivor_client_id=survivor, merged_client_id=merged, merged_at=datetime.now(UTC)
        )
    )
    await eventually(
        lambda: crm.db["client_projection"].find_one({"_id": merged, "merged_into": survivor}),
        within=120,
        what="the merge projected",
    )
    item = await crm.catalogue_item()
    refused = await crm.http.post(
        "/proposals",
        json={"client_id": merged, "title": "x", "lines": [{"item_code": item, "quantity": 1}]},
        headers=crm.writer(),
    )
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["field"] == "body.client_id"
    assert survivor in refused.json()["detail"]


async def test_a_former_client_gets_no_new_proposal_and_a_potential_one_does(crm: Any) -> None:
    item = await crm.catalogue_item()
    former, _ = await crm.client_with_curator(status=ClientStatus.FORMER)
    potential, curator = await crm.client_with_curator(status=ClientStatus.POTENTIAL)
    before = await crm.count("proposals")
    refused = await crm.http.post(
        "/proposals",
        json={"client_id": former, "title": "x", "lines": [{"item_code": item, "quantity": 1}]},
        headers=crm.writer(),
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"][0]["field"] == "body.client_id"
    assert "former" in refused.json()["detail"]
    assert await crm.count("proposals") == before

    created = await crm.proposal(potential, [{"item_code": item, "quantity": 1}])
    assert (created["client_id"], created["curator_id"]) == (potential, curator)

    # Contacts moving the potential client to former closes the door for the next proposal.
    await crm.publish(
        ClientStatusChanged(
            client_id=potential,
            from_status=ClientStatus.POTENTIAL,
            to_status=ClientStatus.FORMER,
            version=2,
            changed_at=datetime.now(UTC),
        )
    )
    await eventually(
        lambda: crm.db["client_projection"].find_one({"_id": potential, "status": "former"}),
        within=120,
        what="the status change projected",
    )
    again = await crm.http.post(
        "/proposals",
        json={"client_id": potential, "title": "y", "lines": [{"item_code": item, "quantity": 1}]},
        headers=crm.writer(),
    )
    assert again.status_code == 409
    assert again.json()["errors"][0]["field"] == "body.client_id"


async def test_proposals_of_a_merged_client_move_to_the_survivor_once(crm: Any) -> None:
    survivor, _ = await crm.client_with_curator(name="Survivor")
    merged, _ = await crm.client_with_curator(name="Duplicate")
    person = await crm.person(merged, "Moved along")
    item = await crm.catalogue_item()
    pids = {
        (await crm.proposal(merged, [{"item_code": item, "quantity": n}]))["id"] for n in (1, 2)
    }
    at = datetime.now(UTC)
    # The same merge twice, in two envelopes (so the consumer's own de-duplication does not
    # hide the second from the handler), then a later fact of the merged client: once that is
    # projected, both merges were handled.
    merge = ClientsMerged(survivor_client_id=survivor, merged_client_id=merged, merged_at=at)
    await crm.publish(merge, merge)
    await crm.publish(
        _state(ClientUpdated, merged, "Duplicate", 7, changed_fields=("name",), updated_at=at)
    )
    await eventually(
        lambda: crm.db["client_projection"].find_one({"_id": merged, "version": 7}),
        within=120,
        what="the fact after the merges projected",
    )

    listed = await crm.http.get(
        "/proposals", params={"client_id": survivor}, headers=crm.auth("proposals:read")
    )
    moved = {p["id"]: p for p in listed.json()["items"]}
    assert set(moved) == pids
    assert {(p["client_id"], p["version"]) for p in moved.values()} == {(survivor, 2)}
    left = await crm.http.get(
        "/proposals", params={"client_id": merged}, headers=crm.auth("proposals:read")
    )
    assert left.json()["items"] == []
    pid = next(iter(pids))
    history = (await crm.http.get(f"/proposals/{pid}/history", headers=crm.auth())).json()
    assert [e["summary"] for e in history if e["kind"] == "client_merged"] == [
        f"client {merged} merged into {survivor}"
    ]
    # The merged client's people are now the survivor's: they may take part on its side.
    with_person = await crm.http.post(
        "/proposals",
        json={
            "client_id": survivor,
            "title": "After the merge",
            "lines": [{"item_code": item, "quantity": 1}],
            "participants": [{"side": "client", "role": "user", "person_id": person}],
        },
        headers=crm.writer(),
    )
    assert with_person.status_code == 201, with_person.text
    await crm.settled()
    # The moved proposal goes on under the survivor: its next fact names the survivor.
    since = await end_offsets(crm.stack.kafka_bootstrap, PROPOSALS)
    assert (
        await crm.post(f"/proposals/{pid}/status", 2, {"status": "presented"})
    ).status_code == 200
    records = await read_topic(
        crm.stack.kafka_bootstrap,
        PROPOSALS,
        since=since,
        stop_when=lambda rs: any(r.key == pid.encode() for r in rs),
    )
    (record,) = [r for r in records if r.key == pid.encode()]
    assert Envelope.from_bytes(record.value).open_as(ProposalStatusChanged).client_id == survivor


async def test_an_expired_prospect_leaves_with_its_people_and_contact_records(crm: Any) -> None:
    gone, curator = await crm.client_with_curator(status=ClientStatus.POTENTIAL)
    kept, _ = await crm.client_with_curator(status=ClientStatus.POTENTIAL)
    gone_person = await crm.person(gone)
    kept_person = await crm.person(kept)
    now = datetime.now(UTC)
    contact_id = uuid.uuid4().hex
    await crm.publish(
        ContactRecorded(
            contact_id=contact_id,
            client_id=gone,
            employee_id=curator,
            kind=ContactKind.CALL,
            direction=ContactDirection.OUTBOUND,
            occurred_at=now,
            summary="Called about the offer",
            proposal_id=uuid.uuid4().hex,
            recorded_at=now,
        ),
        ClientExpired(
            client_id=gone,
            person_ids=(gone_person,),
            contact_ids=(contact_id,),
            last_activity_at=now,
            retention_days=730,
            expired_at=now,
        ),
    )

    async def forgotten() -> bool:
        left = [
            await crm.db["client_projection"].find_one({"_id": gone}),
            await crm.db["person_projection"].find_one({"_id": gone_person}),
            await crm.db["proposal_contacts"].find_one({"_id": contact_id}),
        ]
        return left == [None, None, None]

    await eventually(forgotten, within=120, what="the expired prospect forgotten")
    assert await crm.db["client_projection"].find_one({"_id": kept})
    assert await crm.db["person_projection"].find_one({"_id": kept_person})
