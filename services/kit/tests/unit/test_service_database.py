"""The service's database hands out one collection object per name (no server needed)."""

from __future__ import annotations

from crm_kit.runtime import ServiceDatabase
from pymongo import AsyncMongoClient, ReadPreference


def test_one_collection_object_per_name_and_options_still_build_a_new_one() -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1", connect=False
    )
    db = ServiceDatabase(client, "crm_test")

    clients = db["clients"]
    assert db["clients"] is clients
    assert db.clients is clients  # attribute access goes through the same cache
    assert db["contacts"] is not clients
    assert db["contacts"].name == "contacts"
    assert clients.database is db
    assert clients.full_name == "crm_test.clients"

    secondary = db.get_collection("clients", read_preference=ReadPreference.SECONDARY)
    assert secondary is not clients
    assert secondary.read_preference == ReadPreference.SECONDARY
    assert db["clients"].read_preference == ReadPreference.PRIMARY
