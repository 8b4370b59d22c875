"""Contact records from any department, one at a time or as a CSV batch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from crm_contacts.api.records import MAX_CSV_BYTES
from crm_contracts.contacts import ContactRecorded
from crm_kit.testing import bearer

from .conftest import Contacts


async def _setup(contacts: Contacts) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    client = await contacts.register()
    person = await contacts.add_person(client["id"])
    employee = await contacts.employee(department="service")
    return client, person, employee


async def test_recording_a_contact_publishes_contact_recorded(contacts: Contacts) -> None:
    client, person, employee = await _setup(contacts)
    since = await contacts.offsets()
    response = await contacts.api.post(
        "/contacts",
        json={
            "client_id": client["id"],
            "person_id": person["id"],
            "employee_id": employee["id"],
            "kind": "service_visit",
            "direction": "outbound",
            "occurred_at": "2026-11-20T10:00:00+03:00",
            "summary": "  Serviced the boiler  ",
            "outcome": "wants a quote",
            "need_item_codes": ["boiler-x", "BOILER-X"],
            "need_tags": ["Heating"],
            "event_id": "ev-42",
        },
        headers=contacts.writer,
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["summary"] == "Serviced the boiler"
    assert record["occurred_at"] == "2026-11-20T07:00:00Z"
    assert record["need_item_codes"] == ["BOILER-X"]
    assert record["need_tags"] == ["heating"]

    read = await contacts.api.get(f"/contacts/{record['id']}", headers=contacts.reader)
    assert read.json() == record
    listed = await contacts.api.get(
        "/contacts", params={"client_id": client["id"]}, headers=contacts.reader
    )
    assert [r["id"] for r in listed.json()["items"]] == [record["id"]]

    [envelope] = await contacts.events(since, client["id"], only=("ContactRecorded",))
    event = envelope.open_as(ContactRecorded)
    assert (event.contact_id, event.person_id, event.employee_id, event.event_id) == (
        record["id"],
        person["id"],
        employee["id"],
        "ev-42",
    )
    assert event.need_item_codes == ("BOILER-X",)


async def test_a_contact_with_a_person_of_another_client_is_refused(contacts: Contacts) -> None:
    client, _, employee = await _setup(contacts)
    _, stranger, _ = await _setup(contacts)
    response = await contacts.api.post(
        "/contacts",
        json={
            "client_id": client["id"],
            "person_id": stranger["id"],
            "employee_id": employee["id"],
            "kind": "call",
            "occurred_at": "2026-11-20T10:00:00Z",
            "summary": "Called",
        },
        headers=contacts.writer,
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "body.person_id"
    assert await contacts.db["contacts"].count_documents({"client_id": client["id"]}) == 0


async def test_a_csv_import_records_good_rows_and_reports_each_bad_row(
    contacts: Contacts,
) -> None:
    client, person, employee = await _setup(contacts)
    csv_text = (
        "client_id,person_id,employee_id,kind,direction,occurred_at,summary,need_tags\n"
        f"{client['id']},{person['id']},{employee['id']},meeting,inbound,"
        "2026-11-19T09:30:00+00:00,Met at the fair,heating;solar\n"
        f"{client['id']},,{employee['id']},telepathy,inbound,2026-11-19T09:30:00+00:00,Odd,\n"
        f"no-such-client,,{employee['id']},call,outbound,2026-11-19T11:00:00+00:00,Called,\n"
        f"{client['id']},,{employee['id']},letter,outbound,yesterday,,\n"
        f"{client['id']},,{employee['id']},letter,outbound,2026-11-19T12:00:00+00:00,Wrote,\n"
    )
    response = await contacts.api.post(
        "/contacts/import",
        content=csv_text.encode(),
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["created"], result["failed"]) == (2, 3)
    rows = result["rows"]
    assert [(r["row"], r["status"]) for r in rows] == [
        (2, "created"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "created"),
    ]
    assert [e["field"] for e in rows[1]["errors"]] == ["row[3].kind"]
    assert [e["field"] for e in rows[2]["errors"]] == ["row[4].client_id"]
    assert sorted(e["field"] for e in rows[3]["errors"]) == ["row[5].occurred_at", "row[5].summary"]

    stored = await contacts.api.get(
        "/contacts", params={"client_id": client["id"]}, headers=contacts.reader
    )
    items = stored.json()["items"]
    assert [r["id"] for r in items] == [rows[0]["contact_id"], rows[4]["contact_id"]]
    assert items[0]["need_tags"] == ["heating", "solar"]


async def test_a_csv_with_a_wrong_header_is_refused_whole(contacts: Contacts) -> None:
    response = await contacts.api.post(
        "/contacts/import",
        content=b"client,when\nx,y\n",
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert response.status_code == 422
    messages = [e["message"] for e in response.json()["errors"]]
    assert "missing column client_id" in messages
    assert "unknown column when" in messages


async def test_a_csv_over_the_import_limit_is_refused_with_413_and_nothing_is_recorded(
    contacts: Contacts,
) -> None:
    client, _, employee = await _setup(contacts)
    row = (
        f"{client['id']},,{employee['id']},call,outbound,2026-11-19T11:00:00+00:00,Called,\n"
    ).encode()
    header = b"client_id,person_id,employee_id,kind,direction,occurred_at,summary,need_tags\n"
    body = header + row * (MAX_CSV_BYTES // len(row) + 1)
    assert MAX_CSV_BYTES < len(body) < 4 * 1024 * 1024  # under the service-wide limit

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for at in range(0, len(body), 64 * 1024):
            yield body[at : at + 64 * 1024]

    for content in (body, streamed()):
        response = await contacts.api.post(
            "/contacts/import",
            content=content,
            headers={**contacts.writer, "Content-Type": "text/csv"},
        )
        assert response.status_code == 413, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["max_bytes"] == MAX_CSV_BYTES
    stored = await contacts.api.get(
        "/contacts", params={"client_id": client["id"]}, headers=contacts.reader
    )
    assert stored.json()["items"] == []


async def test_a_person_records_a_contact_as_themselves_and_not_as_a_colleague(
    contacts: Contacts,
) -> None:
    client, person, me = await _setup(contacts)
    colleague = await contacts.employee(department="service")

    def signed_in(employee_id: str) -> dict[str, str]:
        return bearer(
            contacts.keys,
            "contacts:read",
            "contacts:write",
            subject=f"user-{employee_id}",
            roles=("sales",),
            employee_id=employee_id,
        )

    def body(employee_id: str) -> dict[str, Any]:
        return {
            "client_id": client["id"],
            "person_id": person["id"],
            "employee_id": employee_id,
            "kind": "call",
            "direction": "outbound",
            "occurred_at": "2026-11-20T10:00:00Z",
            "summary": "Called about the offer",
        }

    as_colleague = await contacts.api.post(
        "/contacts", json=body(colleague["id"]), headers=signed_in(me["id"])
    )
    assert as_colleague.status_code == 403
    assert as_colleague.headers["content-type"] == "application/problem+json"
    assert as_colleague.json()["field"] == "body.employee_id"
    assert await contacts.db["contacts"].count_documents({"client_id": client["id"]}) == 0

    as_me = await contacts.api.post("/contacts", json=body(me["id"]), headers=signed_in(me["id"]))
    assert as_me.status_code == 201, as_me.text
    # An internal app (role integration) records for the employee it names.
    for_colleague = await contacts.api.post(
        "/contacts", json=body(colleague["id"]), headers=contacts.writer
    )
    assert for_colleague.status_code == 201, for_colleague.text
