"""How long an invitation run takes for N participants, on the configured store and broker.

    eval "$(uv run crm-stack env)" && uv run python bench/campaigns_invitation_run.py 2000

Prints the time to select N participants by portrait, to finish the run, and to see every
InvitationRequested on the topic. Figures only; never part of the test run's pass/fail.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


async def main(size: int) -> None:
    from crm_campaigns.app import CampaignsSettings, create
    from crm_contracts.topics import CAMPAIGNS
    from crm_kit.testing import (
        JwtKeys,
        StackEndpoints,
        bearer,
        end_offsets,
        http_client,
        read_topic,
        running,
        service_env,
    )

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    folder = tempfile.mkdtemp(prefix="bench-campaigns-")
    key_file = Path(folder) / "jwt-public.pem"
    key_file.write_bytes(public)
    keys = JwtKeys(private, public, key_file)
    stack = StackEndpoints(os.environ["CRM_KAFKA_BOOTSTRAP"], os.environ["CRM_MONGO_URI"])
    app = create(CampaignsSettings(**service_env(stack, keys, "campaigns")))
    headers = bearer(keys, "campaigns:read", "campaigns:write")
    tag = f"bench{uuid.uuid4().hex[:6]}"
    async with running(app), http_client(app) as http:
        db = app.state.runtime.db
        try:
            await db["client_projection"].insert_one(
                {
                    "_id": tag,
                    "name": tag,
                    "kind": "organisation",
                    "status": "active",
                    "tags": [tag],
                    "version": 1,
                }
            )
            await db["people_projection"].insert_many(
                [
                    {
                        "_id": f"{tag}-{i}",
                        "client_id": tag,
                        "name": f"P{i}",
                        "channels": {"email": f"p{i}@example.com"},
                        "consented": ["email"],
                        "version": 1,
                    }
                    for i in range(size)
                ]
            )
            programme = await http.post(
                "/programmes",
                json={
                    "name": "bench",
                    "portrait": {"tags": [tag]},
                    "starts_on": "2031-01-01",
                    "ends_on": "2031-12-31",
                },
                headers=headers,
            )
            event = await http.post(
                "/events",
                json={
                    "kind": "seminar",
                    "title": "bench",
                    "place": {"venue": "v"},
                    "starts_at": "2031-05-01T10:00:00Z",
                    "ends_at": "2031-05-01T12:00:00Z",
                    "timezone": "UTC",
                    "programme_id": programme.json()["id"],
                },
                headers=headers,
            )
            eid = event.json()["id"]
            t0 = time.monotonic()
            await http.post(
                f"/events/{eid}/participants/by-portrait", json={}, headers=headers, timeout=600
            )
            print(f"selected {size} by portrait: {time.monotonic() - t0:.1f} s")
            since = await end_offsets(stack.kafka_bootstrap, CAMPAIGNS)
            t1 = time.monotonic()
            run = await http.post(f"/events/{eid}/invitations", json={}, headers=headers)
            while True:
                state: Any = (await http.get(run.headers["Location"], headers=headers)).json()
                if state["state"] == "done":
                    break
                await asyncio.sleep(0.5)
            print(f"run done: {time.monotonic() - t1:.1f} s")

            def seen(records: list[Any]) -> bool:
                mine = [r for r in records if r.key == eid.encode()]
                return sum(b"InvitationRequested" in r.value for r in mine) >= size

            await read_topic(
                stack.kafka_bootstrap, CAMPAIGNS, since=since, stop_when=seen, within=3600
            )
            print(f"every InvitationRequested published: {time.monotonic() - t1:.1f} s")
        finally:
            await app.state.runtime.client.drop_database(app.state.runtime.settings.mongo_database)
            shutil.rmtree(folder)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000))
