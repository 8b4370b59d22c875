"""Importing clients with their people and consents from CSV, on the real stack."""

from __future__ import annotations

import io
import random
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from crm_contacts.api.common import MAX_CSV_BYTES
from crm_contacts.handlers.imports import MAX_IMPORT_ROWS
from crm_contacts.handlers.tables import MAX_XLSX_UNPACKED, XLSX_MEDIA_TYPE
from crm_kit.testing import bearer

from .conftest import Contacts

EXAMPLES = Path(__file__).resolve().parents[4] / "docs" / "examples"
HEADER = (
    "client_key,client_name,client_kind,tax_id,country,region,activity_code,activity,tags,"
    "website,address,person_name,position,email,phone,language,consents\n"
)


def _tag() -> str:
    return uuid.uuid4().hex[:10]


def _tax_id() -> str:
    return "".join(random.choices("0123456789", k=10))


def _phone() -> str:
    return f"+7 495 {random.randint(100, 999)}-{random.randint(10, 99)}-{random.randint(10, 99)}"


async def _import(
    contacts: Contacts, text: str, *, dry_run: bool = False, encoding: str = "utf-8"
) -> dict[str, Any]:
    response = await contacts.api.post(
        "/clients/import",
        params={"dry_run": str(dry_run).lower()},
        content=text.encode(encoding),
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _post_xlsx(contacts: Contacts, content: bytes) -> httpx.Response:
    return await contacts.api.post(
        "/clients/import",
        content=content,
        headers={**contacts.writer, "Content-Type": XLSX_MEDIA_TYPE},
    )


async def _stored_named(contacts: Contacts, *names: str) -> list[dict[str, Any]]:
    return [d async for d in contacts.db["clients"].find({"name": {"$in": list(names)}})]


async def test_a_dry_run_reports_each_row_its_errors_and_duplicates_and_stores_nothing(
    contacts: Contacts,
) -> None:
    tag = _tag()
    existing = await contacts.register(name=f"Existing {tag}", tax_id=_tax_id(), country="RU")
    text = HEADER + (
        f"a-{tag},Alpha {tag},organisation,{_tax_id()},RU,Moscow,26.51,Instruments,"
        f'lab;metrology,https://alpha.example,"Moscow, 1 Tverskaya",Anna {tag},Buyer,'
        f"anna.{tag}@example.com,,ru,email\n"
        f"a-{tag},,,,,,,,,,,Boris {tag},Engineer,boris.{tag}@example.com,,en,\n"
        f"b-{tag},Beta {tag},organisation,12345,RU,,,,,not a site,,Vera {tag},,not-an-email,"
        ",ru,phone\n"
        f"c-{tag},Existing {tag},organisation,{existing['tax_id']},RU,,,,,,,,,,,,\n"
        f"d-{tag},Alpha {tag},organisation,,,,,,,,,,,,,,\n"
    )

    report = await _import(contacts, text, dry_run=True)

    assert report["dry_run"] is True
    assert (report["created"], report["people"], report["duplicates"], report["failed"]) == (
        1,
        2,
        2,
        1,
    )
    rows = {r["row"]: r for r in report["rows"]}
    assert [rows[n]["status"] for n in range(2, 7)] == [
        "would_create",
        "would_create",
        "error",
        "duplicate",
        "duplicate",
    ]
    assert sorted((e["field"], e["type"]) for e in rows[4]["errors"]) == [
        ("row[4].email", "invalid-channel"),
        ("row[4].tax_id", "invalid-tax-id"),
        ("row[4].website", "value_error"),
    ]
    assert rows[5]["client_id"] == existing["id"]
    assert rows[5]["duplicate_of"][0]["reasons"] == ["tax_id", "name"]
    assert rows[6]["duplicate_of_row"] == 2  # the same name as the file's own Alpha
    assert await _stored_named(contacts, f"Alpha {tag}", f"Beta {tag}") == []


async def test_an_import_stores_clients_with_people_and_consents_and_publishes_their_events(
    contacts: Contacts,
) -> None:
    tag = _tag()
    since = await contacts.offsets()
    text = HEADER + (
        f"g-{tag},Gamma {tag},organisation,{_tax_id()},RU,Kazan,,,heating,,,Gleb {tag},CEO,"
        f'gleb.{tag}@example.com,{_phone()},ru,"email,phone"\n'
        f"g-{tag},,,,,,,,,,,Galina {tag},,galina.{tag}@example.com,,en,\n"
        f"h-{tag},Delta {tag},person,,RU,,,,,,,,,,,,\n"
    )

    report = await _import(contacts, text)

    assert (report["created"], report["people"], report["duplicates"], report["failed"]) == (
        2,
        2,
        0,
        0,
    )
    first, second, third = report["rows"]
    assert first["status"] == second["status"] == third["status"] == "created"
    assert first["client_id"] == second["client_id"] != third["client_id"]
    client = (
        await contacts.api.get(f"/clients/{first['client_id']}", headers=contacts.writer)
    ).json()
    assert client["source"]["kind"] == "import"
    assert client["tags"] == ["heating"]
    people = (
        await contacts.api.get(f"/clients/{first['client_id']}/people", headers=contacts.writer)
    ).json()["items"]
    by_id = {p["id"]: p for p in people}
    gleb, galina = by_id[first["person_id"]], by_id[second["person_id"]]
    assert (gleb["name"], galina["name"]) == (f"Gleb {tag}", f"Galina {tag}")
    assert sorted(c["channel"] for c in gleb["consents"] if c["granted"]) == ["email", "phone"]
    assert {c["source"] for c in gleb["consents"]} == {"import"}
    assert galina["consents"] == []
    assert galina["language"] == "en"

    published = await contacts.events(
        since,
        first["client_id"],
        until=5,
        only=("ClientRegistered", "PersonAdded", "ConsentChanged"),
    )
    assert [e.event_type for e in published] == [
        "ClientRegistered",
        "PersonAdded",
        "PersonAdded",
        "ConsentChanged",
        "ConsentChanged",
    ]
    assert {e.payload["source"] for e in published if e.event_type == "ConsentChanged"} == {
        "import"
    }
    assert {e.actor.app if e.actor else None for e in published} == {"test-app"}
    audit = await contacts.api.get(f"/audit/{first['client_id']}", headers=contacts.reader)
    assert [i["event_type"] for i in audit.json()["items"]][:3] == [
        "ClientRegistered",
        "PersonAdded",
        "PersonAdded",
    ]


async def test_importing_the_same_file_again_creates_nothing(contacts: Contacts) -> None:
    tag = _tag()
    text = HEADER + (
        f"k-{tag},Kappa {tag},organisation,{_tax_id()},RU,,,,,,,Kira {tag},,"
        f"kira.{tag}@example.com,,ru,email\n"
        f",Lambda {tag},organisation,,,,,,,,,,,,,,\n"
    )
    first = await _import(contacts, text)
    assert first["created"] == 2

    again = await _import(contacts, text)

    assert (again["created"], again["people"], again["people_added"]) == (0, 0, 0)
    assert again["duplicates"] == 2
    # Kappa has a tax id: its person is looked for in it and found, not added again.
    assert [r["status"] for r in again["rows"]] == ["person_exists", "duplicate"]
    assert [r["client_id"] for r in again["rows"]] == [r["client_id"] for r in first["rows"]]
    assert again["rows"][0]["person_id"] == first["rows"][0]["person_id"]
    stored = await _stored_named(contacts, f"Kappa {tag}", f"Lambda {tag}")
    assert len(stored) == 2
    assert [len(d["people"]) for d in stored if d["name"] == f"Kappa {tag}"] == [1]


async def _people(contacts: Contacts, client_id: str) -> dict[str, dict[str, Any]]:
    response = await contacts.api.get(f"/clients/{client_id}/people", headers=contacts.reader)
    return {p["name"]: p for p in response.json()["items"]}


async def test_new_people_of_a_client_with_the_same_tax_id_are_added_once(
    contacts: Contacts,
) -> None:
    tag, tax_id = _tag(), _tax_id()
    first = await _import(
        contacts,
        HEADER + f",Mu {tag},organisation,{tax_id},RU,,,,,,,Kira {tag},,kira.{tag}@example.com,"
        ",ru,email\n",
    )
    client_id = first["rows"][0]["client_id"]
    more = HEADER + (
        # Kira again (another spelling, the same e-mail), and two people the client lacks.
        f"m-{tag},MU {tag} Ltd,organisation,{tax_id},RU,,,,,,,Kira {tag.upper()},,"
        f"KIRA.{tag}@example.com,,ru,\n"
        f"m-{tag},,,,,,,,,,,Lev {tag},Buyer,lev.{tag}@example.com,,en,email\n"
        f"m-{tag},,,,,,,,,,,Mila {tag},,,{_phone()},ru,\n"
    )

    dry = await _import(contacts, more, dry_run=True)
    assert [r["status"] for r in dry["rows"]] == [
        "person_exists",
        "would_add_person",
        "would_add_person",
    ]
    assert (dry["created"], dry["people_added"]) == (0, 2)
    assert list(await _people(contacts, client_id)) == [f"Kira {tag}"]

    since = await contacts.offsets()
    added = await _import(contacts, more)
    assert [(r["status"], r["client_id"]) for r in added["rows"]] == [
        ("person_exists", client_id),
        ("person_added", client_id),
        ("person_added", client_id),
    ]
    assert added["rows"][0]["person_id"] == first["rows"][0]["person_id"]
    people = await _people(contacts, client_id)
    assert sorted(people) == sorted([f"Kira {tag}", f"Lev {tag}", f"Mila {tag}"])
    lev = people[f"Lev {tag}"]
    assert lev["id"] == added["rows"][1]["person_id"]
    assert [(c["channel"], c["granted"], c["source"]) for c in lev["consents"]] == [
        ("email", True, "import")
    ]
    published = await contacts.events(
        since, client_id, until=3, only=("PersonAdded", "ConsentChanged")
    )
    assert [e.event_type for e in published] == ["PersonAdded", "ConsentChanged", "PersonAdded"]

    again = await _import(contacts, more)
    assert [r["status"] for r in again["rows"]] == ["person_exists"] * 3
    assert [r["person_id"] for r in again["rows"][1:]] == [
        r["person_id"] for r in added["rows"][1:]
    ]
    assert len(await _people(contacts, client_id)) == 3


async def test_people_are_not_added_to_a_look_alike_without_the_same_tax_id(
    contacts: Contacts,
) -> None:
    tag = _tag()
    existing = await contacts.register(name=f"Nu {tag}")

    report = await _import(
        contacts, HEADER + f",Nu {tag},organisation,,RU,,,,,,,Olga {tag},,,,ru,\n"
    )

    assert [(r["status"], r["client_id"]) for r in report["rows"]] == [
        ("duplicate", existing["id"])
    ]
    assert await _people(contacts, existing["id"]) == {}


async def test_a_russian_spreadsheet_with_a_byte_order_mark_and_semicolons_is_imported(
    contacts: Contacts,
) -> None:
    tag = _tag()
    text = (
        "\ufeffКлюч;Наименование;ИНН;Страна;Регион;Контактное лицо;Должность;E-mail;Телефон;"
        "Язык;Согласия\n"
        f"r-{tag};ООО «Ромашка {tag}»;{_tax_id()};RU;Татарстан;Иванова Мария {tag};"
        f"=ГЛАВНЫЙ+ИНЖЕНЕР;maria.{tag}@example.ru;8 (843) {random.randint(200, 999)}-11-22;"
        "русский;почта, телефон\n"
    )

    report = await _import(contacts, text)

    assert [r["status"] for r in report["rows"]] == ["created"], report
    row = report["rows"][0]
    client = (
        await contacts.api.get(f"/clients/{row['client_id']}", headers=contacts.writer)
    ).json()
    assert client["name"] == f"ООО «Ромашка {tag}»"
    assert client["region"] == "Татарстан"
    person = (
        await contacts.api.get(
            f"/clients/{row['client_id']}/people/{row['person_id']}", headers=contacts.writer
        )
    ).json()
    assert person["position"] == "=ГЛАВНЫЙ+ИНЖЕНЕР"  # a formula-looking cell is kept as text
    assert person["language"] == "ru"
    assert person["channels"]["phone"].startswith("+7843")
    assert sorted(c["channel"] for c in person["consents"]) == ["email", "phone"]


async def test_an_oversized_file_is_refused_with_413_and_too_many_rows_with_422(
    contacts: Contacts,
) -> None:
    tag = _tag()
    row = f",Omega {tag},organisation,,,,,,,,,,,,,,\n"
    body = (HEADER + row * (MAX_CSV_BYTES // len(row) + 1)).encode()
    too_large = await contacts.api.post(
        "/clients/import", content=body, headers={**contacts.writer, "Content-Type": "text/csv"}
    )
    assert too_large.status_code == 413, too_large.text
    assert too_large.headers["content-type"].startswith("application/problem+json")
    assert too_large.json()["max_bytes"] == MAX_CSV_BYTES

    rows = "".join(f",Omega {tag} {n},organisation,,,,,,,,,,,,,,\n" for n in range(1001))
    too_many = await contacts.api.post(
        "/clients/import",
        content=(HEADER + rows).encode(),
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert too_many.status_code == 422, too_many.text
    assert f"at most {MAX_IMPORT_ROWS} rows" in too_many.json()["errors"][0]["message"]
    assert await contacts.db["clients"].count_documents({"name": {"$regex": f"^Omega {tag}"}}) == 0


async def test_a_file_with_an_unknown_column_or_not_in_utf8_is_refused_whole(
    contacts: Contacts,
) -> None:
    unknown = await contacts.api.post(
        "/clients/import",
        content=b"client_name,shoe_size\nAcme,42\n",
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["message"] == "unknown column shoe_size"
    latin1 = await contacts.api.post(
        "/clients/import",
        content="client_name\nCaf\u00e9\n".encode("latin-1"),
        headers={**contacts.writer, "Content-Type": "text/csv"},
    )
    assert latin1.status_code == 422
    assert latin1.json()["errors"][0]["type"] == "encoding"


async def test_a_salesperson_may_not_import_clients(contacts: Contacts) -> None:
    token = bearer(
        contacts.keys, "contacts:read", "contacts:write", roles=("sales",), employee_id="e-1"
    )
    response = await contacts.api.post(
        "/clients/import",
        content=b"client_name\nAcme\n",
        headers={**token, "Content-Type": "text/csv"},
    )
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["clients-import.csv", "clients-import.ru.csv"])
async def test_the_documented_example_files_pass_a_dry_run(contacts: Contacts, name: str) -> None:
    text = (EXAMPLES / name).read_bytes().decode("utf-8-sig")

    report = await _import(contacts, text, dry_run=True)

    assert {r["status"] for r in report["rows"]} == {"would_create"}, report
    assert (report["created"], report["failed"]) == (2, 0)


async def test_an_xlsx_workbook_is_imported_with_numbers_as_text_and_formulas_as_text(
    contacts: Contacts,
) -> None:
    tag = _tag()
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Наименование", "ИНН", "Страна", "Регион", "ФИО", "E-mail", "Согласия"])
    tax_id = random.randint(10**9, 10**10 - 1)  # a number cell, as a spreadsheet keeps an INN
    sheet.append(
        [
            f"Workbook {tag}",
            tax_id,
            "RU",
            "=A2&B2",
            f"Pavel {tag}",
            f"pavel.{tag}@example.com",
            "email",
        ]
    )
    sheet.append([])  # a blank row a spreadsheet keeps
    saved = io.BytesIO()
    book.save(saved)

    response = await _post_xlsx(contacts, saved.getvalue())

    assert response.status_code == 200, response.text
    rows = response.json()["rows"]
    assert [(r["row"], r["status"]) for r in rows] == [(2, "created")], rows
    client = (
        await contacts.api.get(f"/clients/{rows[0]['client_id']}", headers=contacts.writer)
    ).json()
    assert (client["tax_id"], client["region"]) == (str(tax_id), "=A2&B2")


async def test_a_damaged_workbook_is_refused_with_422(contacts: Contacts) -> None:
    response = await _post_xlsx(contacts, b"PK\x03\x04 not really a workbook")
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "xlsx"


async def test_a_person_row_copied_twice_refuses_its_client_naming_both_rows(
    contacts: Contacts,
) -> None:
    tag = _tag()
    row = f"m-{tag},Mu {tag},organisation,,,,,,,,,Mila {tag},,mila.{tag}@example.com,,ru,\n"

    report = await _import(contacts, HEADER + row + row)

    first, second = report["rows"]
    assert (first["status"], second["status"]) == ("error", "error")
    assert second["errors"][0]["message"] == "the same person as row 2"
    assert first["errors"][0]["type"] == "client_refused"
    assert await _stored_named(contacts, f"Mu {tag}") == []


async def test_a_zip_that_is_not_a_workbook_is_refused_with_422(contacts: Contacts) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w") as archive:
        archive.writestr("notes.txt", "not a spreadsheet")
    response = await _post_xlsx(contacts, packed.getvalue())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["type"] == "xlsx"


async def test_a_workbook_that_unpacks_past_the_limit_is_refused_before_it_is_read(
    contacts: Contacts,
) -> None:
    packed = io.BytesIO()
    with zipfile.ZipFile(packed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", b"\0" * (MAX_XLSX_UNPACKED + 1))
    assert len(packed.getvalue()) < MAX_CSV_BYTES
    response = await _post_xlsx(contacts, packed.getvalue())
    assert response.status_code == 422, response.text
    assert str(MAX_XLSX_UNPACKED) in response.json()["errors"][0]["message"]
