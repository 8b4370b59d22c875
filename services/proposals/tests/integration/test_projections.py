"""The projections of contacts' facts are idempotent and order-safe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contracts.contacts import ClientRegistered, ClientsMerged, ClientSource, ClientUpdated
from crm_contracts.values import ClientKind, ClientSourceKind, ClientStatus
from crm_kit.testing import eventually


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
