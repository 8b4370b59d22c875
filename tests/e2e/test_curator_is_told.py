"""Across processes: a curator assigned in contacts is told by e-mail through notify."""

from __future__ import annotations

import email
import email.header
import uuid
from typing import Any

import httpx
from crm_kit.auth import sign_token
from crm_kit.testing import eventually

CONTACTS = "http://127.0.0.1:8001"
NOTIFY = "http://127.0.0.1:8004"


def _headers(processes: Any, *scopes: str) -> dict[str, str]:
    token = sign_token(
        processes.private_key.read_bytes(),
        subject="e2e",
        roles=("integration",),
        scopes=scopes,
        issuer="crm-local",
        audience="crm",
    )
    return {"Authorization": f"Bearer {token}"}


def _subject(message: email.message.Message) -> str:
    return str(email.header.make_header(email.header.decode_header(message["Subject"])))


async def test_a_curator_assigned_in_contacts_receives_one_e_mail_through_notify(
    processes: Any,
) -> None:
    run = uuid.uuid4().hex[:8]
    address = f"curator-{run}@crm.example"
    auth = _headers(processes, "contacts:read", "contacts:write", "notify:read")
    async with httpx.AsyncClient(timeout=30) as http:
        employee = await http.post(
            f"{CONTACTS}/employees",
            headers=auth,
            json={
                "name": f"Curator {run}",
                "department": "sales",
                "role": "manager",
                "language": "en",
                "channels": {"email": address},
            },
        )
        assert employee.status_code == 201, employee.text
        client = await http.post(
            f"{CONTACTS}/clients",
            headers=auth,
            json={"name": f"E2E Trading {run}", "region": "Moscow"},
        )
        assert client.status_code == 201, client.text
        client_id = client.json()["id"]
        assigned = await http.put(
            f"{CONTACTS}/clients/{client_id}/curator",
            headers={**auth, "If-Match": client.headers["ETag"]},
            json={"employee_id": employee.json()["id"]},
        )
        assert assigned.status_code == 200, assigned.text

        async def delivered() -> Any:
            page = await http.get(
                f"{NOTIFY}/notifications",
                headers=auth,
                params={"recipient": employee.json()["id"]},
            )
            items = page.json()["items"] if page.status_code == 200 else []
            return items if items and items[0]["status"] == "delivered" else None

        items = await eventually(delivered, within=90, interval=0.5, what="the notification")
    assert [(i["kind"], i["channel"], i["address"]) for i in items] == [
        ("curator_assigned", "email", address)
    ]
    messages = [
        email.message_from_bytes(path.read_bytes()) for path in processes.mail_dir.iterdir()
    ]
    ours = [m for m in messages if m["To"] == address]
    assert len(ours) == 1
    assert f"E2E Trading {run}" in _subject(ours[0])
