"""A person's data export and erasure across the four services and their topics.

A client's person is invited to a seminar (notify delivers the invitation), answers its
questionnaire with a free-text answer that repeats their phone, and is the decision maker of a
won proposal. Their export gathers them from all four services. A data-protection officer
erases them: every service's API, and every event on the topics read by a plain consumer (and
even by one holding the key vault), reveals neither their name, nor their e-mail, nor their
phone; the erasure and the exports are on the audit trail; erasing again changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from crm_contracts.topics import CAMPAIGNS as CAMPAIGNS_TOPIC
from crm_contracts.topics import CONTACTS as CONTACTS_TOPIC
from crm_contracts.topics import NOTIFY as NOTIFY_TOPIC
from crm_contracts.topics import PROPOSALS as PROPOSALS_TOPIC
from crm_kit.testing import end_offsets, read_topic
from crm_ops.personal_data import SCOPES as DATA_PROTECTION_SCOPES
from crm_ops.personal_data import export_person

from .conftest import (
    CAMPAIGNS,
    CONTACTS,
    NOTIFY,
    PROPOSALS,
    WORK_SCOPES,
    ok,
    token,
    unsealed,
    until,
)

TOPICS = (CONTACTS_TOPIC, CAMPAIGNS_TOPIC, PROPOSALS_TOPIC, NOTIFY_TOPIC)
BASES = {"contacts": CONTACTS, "campaigns": CAMPAIGNS, "proposals": PROPOSALS, "notify": NOTIFY}


async def _offsets_now(stack: Any) -> dict[str, dict[int, int]]:
    """The end of each of the four service topics: where this test's records begin."""
    return {topic: await end_offsets(stack.kafka_bootstrap, topic) for topic in TOPICS}


async def _topics_now(
    stack: Any, since: dict[str, dict[int, int]]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Every record on the four service topics from ``since`` (the test's start: whatever a
    long-lived stack carried before is not read), read by a plain consumer: the raw values
    (what anyone with read access sees) and those that are envelopes, parsed."""
    raw: list[str] = []
    for topic in TOPICS:
        records = await read_topic(stack.kafka_bootstrap, topic, since=since[topic], until_idle=1.0)
        raw += [r.value.decode(errors="replace") for r in records if r.value]
    envelopes = []
    for value in raw:
        with contextlib.suppress(ValueError):  # another test's deliberately broken record
            parsed = json.loads(value)
            if isinstance(parsed, dict) and "payload" in parsed:
                envelopes.append(parsed)
    return raw, envelopes


def _reveals(document: Any, secrets: tuple[str, ...]) -> list[str]:
    text = json.dumps(document, ensure_ascii=False, default=str)
    return [s for s in secrets if s in text]


async def test_an_erased_person_is_gone_from_every_service_and_every_event_and_stays_gone(
    processes: Any, stack: Any
) -> None:
    since = await _offsets_now(stack)
    run = uuid.uuid4().hex[:8]
    name, mail = f"Эрика Стёрова {run}", f"erika-{run}@client.example"
    phone = f"+7495{int(run, 16) % 10**7:07d}"
    secrets = (name, mail, phone)
    work = {"Authorization": f"Bearer {token(processes, *WORK_SCOPES)}"}
    analyst = {"Authorization": f"Bearer {token(processes, 'proposals:admin')}"}
    officer = {
        "Authorization": "Bearer "
        + token(processes, *DATA_PROTECTION_SCOPES, roles=("data-protection",))
    }
    async with httpx.AsyncClient(timeout=30, headers=work) as http:
        # A client with the person, a curator and a catalogue item. ---------------------------
        curator = ok(
            await http.post(
                f"{CONTACTS}/employees",
                json={
                    "name": f"Curator {run}",
                    "department": "sales",
                    "role": "curator",
                    "channels": {"email": f"curator-{run}@crm.example"},
                },
            ),
            201,
        )["id"]
        client = ok(
            await http.post(
                f"{CONTACTS}/clients",
                json={"name": f"ООО Стирка {run}", "region": "Moscow", "country": "RU"},
            ),
            201,
        )
        client_id = client["id"]
        person_id = ok(
            await http.post(
                f"{CONTACTS}/clients/{client_id}/people",
                json={
                    "name": name,
                    "language": "ru",
                    "position": "Engineer",
                    "channels": {"email": mail, "phone": phone},
                    "consents": ["email"],
                },
            ),
            201,
        )["id"]
        current = await http.get(f"{CONTACTS}/clients/{client_id}")
        ok(
            await http.put(
                f"{CONTACTS}/clients/{client_id}/curator",
                headers={"If-Match": current.headers["ETag"]},
                json={"employee_id": curator},
            )
        )
        item = f"ERASE-{run.upper()}"
        ok(
            await http.post(
                f"{PROPOSALS}/catalog",
                headers=analyst,
                json={
                    "code": item,
                    "name": "Pump",
                    "kind": "goods",
                    "unit": "pcs",
                    "list_price": {"amount_minor": 100_00, "currency": "RUB"},
                },
            ),
            201,
        )

        # Invited to a seminar, the invitation delivered. -------------------------------------
        starts = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
        event_id = ok(
            await http.post(
                f"{CAMPAIGNS}/events",
                json={
                    "kind": "seminar",
                    "title": f"Seminar {run}",
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=2)).isoformat(),
                    "timezone": "Europe/Moscow",
                    "place": {"venue": "Hall"},
                },
            ),
            201,
        )["id"]

        async def added() -> Any:
            r = await http.post(
                f"{CAMPAIGNS}/events/{event_id}/participants",
                json={"people": [{"person_id": person_id}]},
            )
            return r.json() if r.status_code == 201 else None

        await until(added, "the person added as a participant (campaigns knowing them)")
        ok(await http.post(f"{CAMPAIGNS}/events/{event_id}/invitations", json={}), 202)

        async def delivered() -> Any:
            listed = ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"))["items"]
            return listed if listed and listed[0]["status"] == "delivered" else None

        [participant] = await until(delivered, "the invitation delivered")

        # A questionnaire answered, the phone repeated in a free-text answer. -----------------
        ok(
            await http.put(
                f"{CAMPAIGNS}/events/{event_id}/questionnaire",
                headers={"If-Match": '"0"'},
                json={
                    "title": "Feedback",
                    "questions": [
                        {"question_id": "rating", "kind": "scale", "text": "How was it?"},
                        {"question_id": "reach", "kind": "free_text", "text": "How to reach you?"},
                    ],
                },
            )
        )
        ok(
            await http.post(
                f"{CAMPAIGNS}/events/{event_id}/questionnaire/responses",
                json={
                    "participant_id": participant["id"],
                    "answers": [
                        {"question_id": "rating", "scale": 5},
                        {"question_id": "reach", "text": f"call {phone} after 10"},
                    ],
                },
            ),
            201,
        )

        # On a proposal as its decision maker; the proposal won. -------------------------------
        async def registered() -> Any:
            r = await http.post(
                f"{PROPOSALS}/proposals",
                json={
                    "client_id": client_id,
                    "title": f"Pumps {run}",
                    "lines": [{"item_code": item, "quantity": 2}],
                    "participants": [
                        {"side": "client", "role": "decision_maker", "person_id": person_id}
                    ],
                },
            )
            return r.json() if r.status_code == 201 else None

        proposal = await until(registered, "proposals knowing the client, curator and person")
        of = f"{PROPOSALS}/proposals/{proposal['id']}"
        for status in ("presented", "negotiation"):
            etag = (await http.get(of)).headers["ETag"]
            ok(await http.post(f"{of}/status", headers={"If-Match": etag}, json={"status": status}))
        etag = (await http.get(of)).headers["ETag"]
        assert ok(await http.post(f"{of}/win", headers={"If-Match": etag}))["status"] == "won"

        # The export before erasure: all of it, from every service. ----------------------------
        services = {
            n: httpx.AsyncClient(base_url=b, headers=officer, timeout=30) for n, b in BASES.items()
        }
        try:

            async def everywhere() -> Any:
                export = await export_person(person_id, services)
                held = export["services"]
                known = all(held[n].get("person") or held[n].get("recipient") for n in BASES)
                return export if known else None

            before = await until(everywhere, "the person known to all four services")
            for service in ("contacts", "campaigns", "proposals", "notify"):
                assert _reveals(before["services"][service], (name,)) == [name], service
            assert _reveals(before, secrets) == list(secrets)
            assert before["services"]["campaigns"]["participations"][0]["id"] == participant["id"]
            assert [p["id"] for p in before["services"]["proposals"]["proposals"]] == [
                proposal["id"]
            ]
            assert [n["address"] for n in before["services"]["notify"]["notifications"]] == [mail]
            assert before["erased"] is False

            # Every event about them is sealed on the wire; the key vault opens them, for now.
            raw, wire = await _topics_now(stack, since)
            assert _reveals(raw, secrets) == []
            ours = [e for e in wire if _reveals(e, (person_id,))]
            opened = [await unsealed(stack, e) for e in ours]
            assert set(_reveals(opened, secrets)) == set(secrets)

            # Erased. --------------------------------------------------------------------------
            erased = ok(await services["contacts"].post(f"/people/{person_id}/erasure"))
            assert (erased["client_id"], erased["already_erased"]) == (client_id, False)

            async def forgotten() -> Any:
                # Settled: every service erased the person, and contacts' timeline (a consumer
                # of PersonErased, like the others) shows the erasure.
                export = await export_person(person_id, services)
                kinds = {e["kind"] for e in export["services"]["contacts"]["timeline"]}
                return export if export["erased"] and "person_erased" in kinds else None

            after = await until(forgotten, "every service forgetting the person")
            for service, held in after["services"].items():
                assert _reveals(held, secrets) == [], (service, held)

            # Every service's API. -------------------------------------------------------------
            shown = ok(await http.get(f"{CONTACTS}/clients/{client_id}/people/{person_id}"))
            assert (shown["name"], shown["channels"]["email"], shown["channels"]["phone"]) == (
                "[erased]",
                None,
                None,
            )
            assert shown["erased_at"] is not None
            pages = [
                await http.get(f"{CONTACTS}/clients/{client_id}/people"),
                await http.get(f"{CONTACTS}/clients/{client_id}/timeline"),
                await http.get(f"{CONTACTS}/contacts", params={"person_id": person_id}),
                await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"),
                await http.get(f"{CAMPAIGNS}/events/{event_id}/questionnaire/results"),
                await http.get(f"{CAMPAIGNS}/audience/clients/{client_id}"),
                await http.get(of),
                await http.get(f"{of}/back-office"),
                await http.get(f"{NOTIFY}/notifications", params={"recipient": person_id}),
            ]
            for page in pages:
                assert page.status_code == 200, page.text
                assert _reveals(page.json(), secrets) == [], page.request.url
            found = ok(await http.get(f"{CONTACTS}/clients", params={"q": mail}))
            assert found["items"] == []

            # Every event on the topics, read plainly and with the key vault. ------------------
            raw, wire = await _topics_now(stack, since)
            assert _reveals(raw, secrets) == []
            ours = [e for e in wire if _reveals(e, (person_id,))]
            opened = [await unsealed(stack, e) for e in ours]
            assert _reveals(opened, secrets) == []
            assert "[erased]" in json.dumps(opened, ensure_ascii=False)
            erasures = [e for e in ours if e["event_type"] == "PersonErased"]
            assert len(erasures) == 1

            # On the audit trail: who erased, who exported. -------------------------------------
            trail = ok(await http.get(f"{CONTACTS}/audit/{client_id}"))["items"]
            assert [e["actor"]["app"] for e in trail if e["event_type"] == "PersonErased"] == [
                "e2e-cycle"
            ]
            for base in BASES.values():
                trail = ok(await http.get(f"{base}/audit/{person_id}"))["items"]
                assert {e["event_type"] for e in trail} == {"PersonalDataExported"}

            # Erasing again changes nothing. ---------------------------------------------------
            again = ok(await services["contacts"].post(f"/people/{person_id}/erasure"))
            assert (again["already_erased"], again["erased_at"]) == (True, erased["erased_at"])
            settled = await export_person(person_id, services)
            assert settled["services"] == after["services"]
            _, wire = await _topics_now(stack, since)
            erasures = [e for e in wire if e["event_type"] == "PersonErased"]
            assert len([e for e in erasures if _reveals(e, (person_id,))]) == 1
        finally:
            for client_http in services.values():
                await client_http.aclose()
