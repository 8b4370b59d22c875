"""The client cycle of the source document, end to end, across the four services as processes.

Employees, clients and people are registered in contacts; marketing defines a programme with a
portrait and schedules an event in campaigns, whose preparation tasks reach their assignees by
e-mail through notify; the people of clients matching the portrait are invited (the invitations
read back from the local SMTP catcher's Maildir), answer on the public page, come, fill in
questionnaires (one an unknown visitor who becomes a potential client in contacts) and talk to
managers; the event's effectiveness and the market-needs report count all of it; a curator is
assigned and told; two proposals run in parallel for one client, one planned from a published
sales model, approved and won; a plain Kafka consumer standing in for the back office receives
the won deal; the client's timeline tells the story in order; the mined model learns from it.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from crm_kit.auth import sign_token
from crm_kit.testing import stack_kafka_options

from .conftest import CAMPAIGNS, CONTACTS, NOTIFY, PROPOSALS, WORK_SCOPES, token, unsealed
from .conftest import mail_to as _mail_to
from .conftest import ok as _ok
from .conftest import until as _until

SCOPES = WORK_SCOPES


# -- helpers ------------------------------------------------------------------------------------
def _token(processes: Any, *scopes: str) -> str:
    return token(processes, *scopes)


def _minor(rubles: int) -> dict[str, Any]:
    return {"amount_minor": rubles * 100, "currency": "RUB"}


# -- the cycle ----------------------------------------------------------------------------------
async def test_the_client_cycle_from_a_programme_to_a_won_deal_handed_to_the_back_office(
    processes: Any, stack: Any
) -> None:
    run = uuid.uuid4().hex[:8]
    tag = f"e2e-{run}"
    auth = {"Authorization": f"Bearer {_token(processes, *SCOPES)}"}
    # the catalogue and the sales models are kept by analysts with proposals:admin
    analyst = {"Authorization": f"Bearer {_token(processes, 'proposals:admin')}"}
    async with httpx.AsyncClient(timeout=30, headers=auth) as http:

        async def etag(url: str) -> dict[str, str]:
            """If-Match for a write: the resource's current ETag."""
            got = await http.get(url)
            assert got.status_code == 200, got.text
            return {"If-Match": got.headers["ETag"]}

        def of(proposal_id: str) -> str:
            return f"{PROPOSALS}/proposals/{proposal_id}"

        # 1. Employees of several departments, the catalogue, clients and people. -------------
        async def employee(name: str, department: str, role: str, language: str = "ru") -> str:
            body = {
                "name": name,
                "department": department,
                "role": role,
                "language": language,
                "channels": {"email": f"{role}-{run}@crm.example"},
            }
            created = _ok(await http.post(f"{CONTACTS}/employees", json=body), 201)
            assert (created["name"], created["department"], created["active"]) == (
                name,
                department,
                True,
            )
            return str(created["id"])

        marketer = await employee("Ольга Маркова", "marketing", "marketer")
        logistician = await employee("Pavel Logan", "logistics", "logistician", "en")
        curator = await employee("Ирина Кураторова", "sales", "curator")
        seller = await employee("Sam Seller", "sales", "seller", "en")
        approver = await employee("Фёдор Финансов", "finance", "approver")
        staff = _ok(await http.get(f"{CONTACTS}/employees", params={"limit": 200}))["items"]
        ours = {e["id"]: e["department"] for e in staff if run in e["channels"]["email"]}
        assert ours == {
            marketer: "marketing",
            logistician: "logistics",
            curator: "sales",
            seller: "sales",
            approver: "finance",
        }

        pump, service = f"PUMP-{run.upper()}", f"SVC-{run.upper()}"
        for code, name, kind, unit, price in (
            (pump, "Насос ЦН-100", "goods", "pcs", 150_000),
            (service, "Commissioning", "service", "hour", 2_500),
        ):
            item = _ok(
                await http.post(
                    f"{PROPOSALS}/catalog",
                    headers=analyst,
                    json={
                        "code": code,
                        "name": name,
                        "kind": kind,
                        "unit": unit,
                        "list_price": _minor(price),
                    },
                ),
                201,
            )
            assert (item["code"], item["list_price"]) == (code, _minor(price))

        async def client(name: str, region: str, **legal: Any) -> str:
            body = {
                "name": name,
                "region": region,
                "country": "RU",
                "size": "medium",
                "tags": [tag],
                "field_of_activity": {"code": "machinery", "label": "Machinery"},
                **legal,
            }
            created = _ok(await http.post(f"{CONTACTS}/clients", json=body), 201)
            assert (created["status"], created["source"]["kind"]) == ("potential", "manual")
            return str(created["id"])

        async def person(client_id: str, name: str, mail: str, consent: bool, lang: str) -> str:
            body: dict[str, Any] = {
                "name": name,
                "language": lang,
                "position": "Engineer",
                "channels": {"email": mail},
                "consents": ["email"] if consent else [],
            }
            created = _ok(await http.post(f"{CONTACTS}/clients/{client_id}/people", json=body), 201)
            return str(created["id"])

        addr = {k: f"{k}-{run}@client.example" for k in ("a1", "a2", "b1", "b2", "c1", "d1")}
        # A 10-digit INN of this run's own, so no earlier run's alpha looks like a duplicate.
        alpha_tax_id = str(int(run, 16) % 10**10).zfill(10)
        alpha_address = {
            "kind": "legal",
            "text": "ул. Тверская, 7",
            "city": "Москва",
            "postal_code": "125009",
            "country": "RU",
        }
        alpha = await client(
            f"ООО Альфа {run}", "Moscow", tax_id=alpha_tax_id, addresses=[alpha_address]
        )
        beta = await client(f"Beta Machines {run}", "Moscow")
        gamma = await client(f"ЗАО Гамма {run}", "Moscow")
        delta = await client(f"Delta Kazan {run}", "Kazan")  # outside the portrait
        a1 = await person(alpha, "Анна Смирнова", addr["a1"], True, "ru")
        a2 = await person(alpha, "Борис Петров", addr["a2"], True, "ru")
        b1 = await person(beta, "John Brown", addr["b1"], True, "en")
        await person(beta, "Jane Noconsent", addr["b2"], False, "en")  # no consent: not invited
        c1 = await person(gamma, "Сергей Иванов", addr["c1"], True, "ru")
        await person(delta, "Dmitry Kazansky", addr["d1"], True, "en")
        people = _ok(await http.get(f"{CONTACTS}/clients/{alpha}/people"))["items"]
        assert [p["id"] for p in people] == [a1, a2]
        assert [c["channel"] for c in people[0]["consents"]] == ["email"]

        # 2. A programme with a portrait. -----------------------------------------------------
        today = datetime.now(UTC).date()
        programme = _ok(
            await http.post(
                f"{CAMPAIGNS}/programmes",
                json={
                    "name": f"Насосы для машиностроения {run}",
                    "starts_on": today.isoformat(),
                    "ends_on": (today + timedelta(days=120)).isoformat(),
                    "portrait": {"regions": ["Moscow"], "tags": [tag]},
                    "promoted_item_codes": [pump, service],
                    "budget": _minor(500_000),
                },
            ),
            201,
        )
        assert programme["portrait"]["regions"] == ["Moscow"]
        programme_id = programme["id"]

        # 3. An event scheduled; its preparation tasks created and their assignees notified. --
        template = _ok(await http.get(f"{CAMPAIGNS}/task-templates/seminar"))
        edited = _ok(
            await http.put(
                f"{CAMPAIGNS}/task-templates/seminar",
                headers={"If-Match": f'"{template["version"]}"'},
                json={
                    "items": [
                        {
                            "item_id": "venue",
                            "title": "Reserve the hall",
                            "category": "venue",
                            "days_before": 14,
                            "department": "logistics",
                            "default_assignee_id": logistician,
                        },
                        {
                            "item_id": "programme",
                            "title": "Программа семинара",
                            "category": "programme",
                            "days_before": 7,
                            "department": "marketing",
                        },
                    ]
                },
            )
        )
        assert [i["item_id"] for i in edited["items"]] == ["venue", "programme"]
        starts = (datetime.now(UTC) + timedelta(days=30)).replace(
            hour=7, minute=0, second=0, microsecond=0
        )
        event = _ok(
            await http.post(
                f"{CAMPAIGNS}/events",
                json={
                    "kind": "seminar",
                    "title": f"Семинар: насосы {run}",
                    "programme_id": programme_id,
                    "starts_at": starts.isoformat(),
                    "ends_at": (starts + timedelta(hours=4)).isoformat(),
                    "timezone": "Europe/Moscow",
                    "place": {"venue": "Экспоцентр", "address": "Москва, Краснопресненская, 14"},
                    "responsible_employee_ids": [marketer],
                    "budget": _minor(100_000),
                },
            ),
            201,
        )
        event_id = event["id"]
        assert (event["status"], event["open_tasks"]) == ("scheduled", 2)
        tasks = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/tasks"))["items"]
        local_day = starts.date()  # 07:00 UTC is 10:00 in Moscow, the same day
        assert [(t["title"], t["assignee_id"], t["due_on"], t["status"]) for t in tasks] == [
            ("Reserve the hall", logistician, str(local_day - timedelta(days=14)), "open"),
            ("Программа семинара", marketer, str(local_day - timedelta(days=7)), "open"),
        ]

        async def told(address: str, kind: str, expected: int = 1) -> Any:
            async def check() -> Any:
                listed = _ok(await http.get(f"{NOTIFY}/notifications", params={"kind": kind}))
                mine = [
                    n
                    for n in listed["items"]
                    if n["address"] == address and n["status"] == "delivered"
                ]
                return mine if len(mine) >= expected else None

            return await _until(check, f"{kind} delivered to {address}")

        for role, title in (("logistician", "Reserve the hall"), ("marketer", "Программа")):
            await told(f"{role}-{run}@crm.example", "task_assigned")
            mails = _mail_to(processes, f"{role}-{run}@crm.example")
            assert len(mails) == 1, mails
            assert title in mails[0][0] + mails[0][1]

        # 4. Participants selected by the portrait (consenting people of matching clients). ---
        async def portrait_known() -> Any:
            # campaigns learns clients and people from contacts' events
            audience = [
                (await http.get(f"{CAMPAIGNS}/audience/clients/{c}")).status_code
                for c in (alpha, beta, gamma)
            ]
            return audience == [200, 200, 200] or None

        await _until(portrait_known, "the clients in campaigns' audience")

        async def selected() -> Any:
            _ok(
                await http.post(f"{CAMPAIGNS}/events/{event_id}/participants/by-portrait", json={}),
                201,
            )
            listed = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"))["items"]
            return listed if len(listed) == 4 else None

        participants = await _until(selected, "four participants chosen by the portrait")
        by_person = {p["person_id"]: p for p in participants}
        assert set(by_person) == {a1, a2, b1, c1}
        assert {p["client_id"] for p in participants} == {alpha, beta, gamma}
        assert {p["status"] for p in participants} == {"planned"}

        # 5. Invitations delivered, read back from the SMTP catcher. ---------------------------
        started = _ok(await http.post(f"{CAMPAIGNS}/events/{event_id}/invitations", json={}), 202)

        async def run_done() -> Any:
            progress = _ok(
                await http.get(f"{CAMPAIGNS}/events/{event_id}/invitations/{started['id']}")
            )
            return progress if progress["state"] == "done" else None

        progress = await _until(run_done, "the invitation run")
        assert (progress["total"], progress["invited"]) == (4, 4)

        async def all_delivered() -> Any:
            listed = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"))["items"]
            return listed if {p["status"] for p in listed} == {"delivered"} else None

        try:
            await _until(all_delivered, "every invitation delivered")
        except AssertionError as exc:
            listed = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"))["items"]
            sent_log = _ok(await http.get(f"{NOTIFY}/notifications", params={"kind": "invitation"}))
            raise AssertionError(
                f"{exc}: participants {[p['status'] for p in listed]}; notify's invitations "
                f"{[(n['address'], n['status'], n['last_error']) for n in sent_log['items']]}"
            ) from exc
        tokens: dict[str, str] = {}
        for key, person_id in (("a1", a1), ("a2", a2), ("b1", b1), ("c1", c1)):
            # Campaigns hears "delivered" from notify's event; the catcher's file is read here.
            await _until(
                lambda k=key: asyncio.sleep(0, bool(_mail_to(processes, addr[k]))),
                f"the invitation to {key} in the mail catcher",
            )
            mails = _mail_to(processes, addr[key])
            assert len(mails) == 1, (key, mails)
            subject, text = mails[0]
            assert f"Семинар: насосы {run}" in subject + text
            found = re.findall(r"/i/([A-Za-z0-9_.\-]+)", text)
            assert found, text
            tokens[person_id] = found[0]
        for key in ("b2", "d1"):
            assert _mail_to(processes, addr[key]) == []

        # 6. Some accept, some decline, on the public page. -----------------------------------
        page = await http.get(f"{CAMPAIGNS}/i/{tokens[a1]}", headers={"Authorization": ""})
        assert page.status_code == 200
        assert f"Семинар: насосы {run}" in page.text
        for person_id, reply in ((a1, "accepted"), (b1, "accepted"), (c1, "accepted")):
            answered = await http.post(f"{CAMPAIGNS}/i/{tokens[person_id]}", data={"answer": reply})
            assert answered.status_code == 200, answered.text
            assert "accepted the invitation" in answered.text
        declined = await http.post(f"{CAMPAIGNS}/i/{tokens[a2]}", data={"answer": "declined"})
        assert declined.status_code == 200
        assert "declined" in declined.text
        again = await http.post(f"{CAMPAIGNS}/i/{tokens[a2]}", data={"answer": "accepted"})
        assert "accepted the invitation" not in again.text
        listed = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/participants"))["items"]
        assert {p["person_id"]: p["status"] for p in listed} == {
            a1: "accepted",
            a2: "declined",
            b1: "accepted",
            c1: "accepted",
        }

        # The day comes: the preparation is done, the seminar is held (moved to this morning).
        for task in tasks:
            current = await http.get(f"{CAMPAIGNS}/events/{event_id}")
            moved = _ok(
                await http.patch(
                    f"{CAMPAIGNS}/events/{event_id}/tasks/{task['id']}",
                    headers={"If-Match": current.headers["ETag"]},
                    json={"status": "done"},
                )
            )
            assert moved["status"] == "done"
        held_at = datetime.now(UTC) - timedelta(hours=2)
        current = await http.get(f"{CAMPAIGNS}/events/{event_id}")
        _ok(
            await http.post(
                f"{CAMPAIGNS}/events/{event_id}/reschedule",
                headers={"If-Match": current.headers["ETag"]},
                json={
                    "starts_at": held_at.isoformat(),
                    "ends_at": (held_at + timedelta(hours=4)).isoformat(),
                    "reason": "brought forward",
                },
            )
        )
        # a1 shows the code from the invitation at the door
        checked = _ok(
            await http.post(
                f"{CAMPAIGNS}/events/{event_id}/attendance",
                json={"code": by_person[a1]["check_in_code"]},
            )
        )
        assert (checked["person_id"], checked["status"]) == (a1, "attended")

        # 7. Questionnaires: a participant online, one from paper, one unknown visitor. -------
        questionnaire = _ok(
            await http.put(
                f"{CAMPAIGNS}/events/{event_id}/questionnaire",
                headers={"If-Match": '"0"'},
                json={
                    "title": "Анкета участника",
                    "questions": [
                        {
                            "question_id": "rating",
                            "kind": "scale",
                            "text": "Как вам семинар?",
                            "required": True,
                        },
                        {
                            "question_id": "interest",
                            "kind": "product_interest",
                            "text": "Что вас заинтересовало?",
                            "options": [pump, service],
                        },
                    ],
                },
            )
        )
        link = _ok(
            await http.get(
                f"{CAMPAIGNS}/events/{event_id}/participants/{by_person[a1]['id']}"
                "/questionnaire-link"
            )
        )
        sent = await http.post(
            f"{CAMPAIGNS}{link['path']}", data={"q_rating": "5", "q_interest": [pump]}
        )
        assert sent.status_code == 200, sent.text
        assert "Thank you" in sent.text, sent.text
        _ok(
            await http.post(
                f"{CAMPAIGNS}/events/{event_id}/questionnaire/responses",
                json={
                    "participant_id": by_person[b1]["id"],
                    "answers": [
                        {"question_id": "rating", "scale": 4},
                        {"question_id": "interest", "choices": [pump, service]},
                    ],
                },
            ),
            201,
        )
        newcomer = f"Новатор {run}"
        anonymous = re.sub(r"^https?://[^/]+", "", questionnaire["anonymous_link"])
        sent = await http.post(
            f"{CAMPAIGNS}{anonymous}",
            data={
                "q_rating": "4",
                "q_interest": [service],
                "name": "Мария Новикова",
                "organisation": newcomer,
                "email": f"maria-{run}@novator.example",
                "consent_email": "on",
            },
        )
        assert sent.status_code == 200, sent.text
        assert "Thank you" in sent.text, sent.text

        async def potential_client() -> Any:
            found = _ok(await http.get(f"{CONTACTS}/clients", params={"q": newcomer}))["items"]
            return found or None

        [novator] = await _until(potential_client, "the unknown respondent as a client")
        assert (novator["name"], novator["status"]) == (newcomer, "potential")
        assert (novator["source"]["kind"], novator["source"]["event_id"]) == (
            "questionnaire",
            event_id,
        )
        novator_people = _ok(await http.get(f"{CONTACTS}/clients/{novator['id']}/people"))
        assert [(p["name"], p["channels"]["email"]) for p in novator_people["items"]] == [
            ("Мария Новикова", f"maria-{run}@novator.example")
        ]

        # 8. Managers' contact records at the event. ------------------------------------------
        talked = _ok(
            await http.post(
                f"{CONTACTS}/contacts",
                json={
                    "client_id": gamma,
                    "person_id": c1,
                    "employee_id": seller,
                    "event_id": event_id,
                    "kind": "event_talk",
                    "direction": "inbound",
                    "occurred_at": (held_at + timedelta(hours=1)).isoformat(),
                    "summary": "Asked for commissioning of two pumps",
                    "need_item_codes": [service],
                },
            ),
            201,
        )
        _ok(
            await http.post(
                f"{CONTACTS}/contacts",
                json={
                    "client_id": alpha,
                    "person_id": a1,
                    "employee_id": curator,
                    "event_id": event_id,
                    "kind": "event_talk",
                    "occurred_at": datetime.now(UTC).isoformat(),
                    "summary": "Обсудили замену насосов на участке",
                    "need_item_codes": [pump],
                },
            ),
            201,
        )

        async def recorded() -> Any:
            found = _ok(await http.get(f"{CONTACTS}/contacts", params={"event_id": event_id}))
            return found if len(found["items"]) >= 4 else None

        at_event = await _until(recorded, "the contact records at the event")
        # in time order: the seller's talk during the seminar, what the known participants'
        # questionnaires left in contacts (recorded by the system, with the needs they named),
        # and the curator's talk just now
        assert [
            (c["employee_id"], c["kind"], c["client_id"], c["need_item_codes"])
            for c in at_event["items"]
        ] == [
            (seller, "event_talk", gamma, [service]),
            ("system", "other", alpha, [pump]),
            ("system", "other", beta, [pump, service]),
            (curator, "event_talk", alpha, [pump]),
        ]
        assert at_event["items"][0]["id"] == talked["id"]

        # The event is closed; its estimate carries what it cost.
        current = await http.get(f"{CAMPAIGNS}/events/{event_id}")
        _ok(
            await http.put(
                f"{CAMPAIGNS}/events/{event_id}/estimate",
                headers={"If-Match": current.headers["ETag"]},
                json={
                    "currency": "RUB",
                    "lines": [
                        {
                            "category": "venue",
                            "quantity": 1,
                            "planned_unit_minor": 60_000_00,
                            "actual_unit_minor": 63_000_00,
                        },
                        {
                            "category": "catering",
                            "quantity": 30,
                            "planned_unit_minor": 1_000_00,
                            "actual_unit_minor": 900_00,
                        },
                    ],
                },
            )
        )
        current = await http.get(f"{CAMPAIGNS}/events/{event_id}")
        completed = _ok(
            await http.post(
                f"{CAMPAIGNS}/events/{event_id}/complete",
                headers={"If-Match": current.headers["ETag"]},
            )
        )
        assert completed["status"] == "completed"

        # 9. Effectiveness and the market-needs report. ---------------------------------------
        expected = {
            "planned": 4,
            "invited": 4,
            "delivered": 4,
            "failed": 0,
            "accepted": 3,
            "declined": 1,
            # a1 checked in; b1's questionnaire and c1's talk with a manager show they came
            "attended": 3,
            "no_show": 0,
            "participation_ratio": 0.75,
            "questionnaire_responses": 3,
            "questionnaire_response_rate": 1.0,
            "actual_cost": _minor(90_000),
            "cost_per_attendee": _minor(30_000),
            "budget": _minor(100_000),
            "budget_variance": _minor(10_000),
            "status": "completed",
            # The unknown visitor, registered by contacts from the questionnaire (found above).
            "new_potential_clients": 1,
            "cost_per_new_potential_client": _minor(90_000),
            # The managers' 2 talks; contacts' own records of the known participants'
            # questionnaire answers (employee "system") are not counted again.
            "contact_records": 2,
        }

        async def counted() -> Any:
            got = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/effectiveness"))
            return got if {k: got[k] for k in expected} == expected else None

        try:
            await _until(counted, "the effectiveness counters")
        finally:
            got = _ok(await http.get(f"{CAMPAIGNS}/events/{event_id}/effectiveness"))
            assert {k: got[k] for k in expected} == expected

        # pump: a1's and b1's questionnaires and the talk with alpha; service: b1's and the
        # unknown visitor's questionnaires and the talk with gamma. The visitor's organisation
        # was no client yet, so service was wanted by two known clients.
        async def needs() -> Any:
            report = _ok(
                await http.get(
                    f"{CAMPAIGNS}/reports/market-needs", params={"programme_id": programme_id}
                )
            )
            rows = {r["item_code"]: r for r in report["items"]}
            enough = all(rows.get(code, {}).get("mentions", 0) >= 3 for code in (pump, service))
            return report if enough else None  # then checked exactly below

        report = await _until(needs, "the market-needs report")
        await asyncio.sleep(2.0)  # a need counted twice would arrive now
        report = _ok(
            await http.get(
                f"{CAMPAIGNS}/reports/market-needs", params={"programme_id": programme_id}
            )
        )
        rows = sorted(
            (r["item_code"], r["name"], r["mentions"], r["distinct_clients"])
            for r in report["items"]
        )
        assert rows == sorted([(pump, "Насос ЦН-100", 3, 2), (service, "Commissioning", 3, 2)]), (
            report
        )
        assert report["total_mentions"] == 6

        # 10. A curator assigned and told. ----------------------------------------------------
        current = await http.get(f"{CONTACTS}/clients/{alpha}")
        assigned = _ok(
            await http.put(
                f"{CONTACTS}/clients/{alpha}/curator",
                headers={"If-Match": current.headers["ETag"]},
                json={"employee_id": curator},
            )
        )
        assert assigned["curator_id"] == curator
        await told(f"curator-{run}@crm.example", "curator_assigned")
        curator_mail = [s for s, _ in _mail_to(processes, f"curator-{run}@crm.example")]
        assert any(f"ООО Альфа {run}" in s for s in curator_mail), curator_mail

        # 11. Two proposals in parallel for one client; one planned from a sales model. -------
        model = _ok(
            await http.post(
                f"{PROPOSALS}/sales-models",
                headers=analyst,
                json={
                    "name": f"Поставка оборудования {run}",
                    "steps": [
                        {
                            "step_id": "survey",
                            "title": "Обследование объекта",
                            "department": "sales",
                            "offset_days": 0,
                        },
                        {
                            "step_id": "approve",
                            "title": "Согласование скидки",
                            "department": "finance",
                            "offset_days": 3,
                            "approval": True,
                            "depends_on": ["survey"],
                        },
                        {
                            "step_id": "contract",
                            "title": "Договор",
                            "department": "sales",
                            "offset_days": 7,
                            "depends_on": ["approve"],
                        },
                    ],
                },
            ),
            201,
        )
        published = _ok(
            await http.post(
                f"{PROPOSALS}/sales-models/{model['id']}/publish",
                headers={**analyst, **await etag(f"{PROPOSALS}/sales-models/{model['id']}")},
                json={},
            )
        )
        assert published["published_version"] == 1

        async def proposals_know_the_curator() -> Any:
            r = await http.post(
                f"{PROPOSALS}/proposals",
                json={
                    "client_id": alpha,
                    "title": f"Насосная станция {run}",
                    "lines": [
                        {
                            "item_code": pump,
                            "quantity": 3,
                            "discount": {"kind": "percent", "basis_points": 1500},
                        },
                        {"item_code": service, "quantity": 10},
                    ],
                    "participants": [
                        {"side": "client", "role": "decision_maker", "person_id": a1},
                        {"side": "company", "role": "account_manager", "employee_id": curator},
                    ],
                },
            )
            return r.json() if r.status_code == 201 else None

        station = await _until(proposals_know_the_curator, "proposals knowing alpha's curator")
        assert (station["curator_id"], station["status"], station["needs_approval"]) == (
            curator,
            "draft",
            True,
        )
        totals = station["revision"]["totals"]
        assert totals == {
            "subtotal": _minor(475_000),
            "discount": _minor(67_500),
            "total": _minor(407_500),
        }
        spare = _ok(
            await http.post(
                f"{PROPOSALS}/proposals",
                json={
                    "client_id": alpha,
                    "title": f"Сервисный контракт {run}",
                    "lines": [{"item_code": service, "quantity": 40}],
                },
            ),
            201,
        )
        listed = _ok(await http.get(f"{PROPOSALS}/proposals", params={"client_id": alpha}))
        assert {p["id"] for p in listed["items"]} == {station["id"], spare["id"]}

        plan = _ok(
            await http.put(
                f"{PROPOSALS}/proposals/{station['id']}/plan",
                headers=await etag(of(station["id"])),
                json={
                    "sales_model_id": model["id"],
                    "starts_on": today.isoformat(),
                    "assignees": {"survey": seller, "approve": approver, "contract": curator},
                },
            )
        )
        assert (plan["origin"], plan["sales_model_version"]) == ("sales_model", 1)
        steps = {s["model_step_id"]: s for s in plan["steps"]}
        assert [
            (s["model_step_id"], s["assignee_id"], s["due_on"], s["approval"])
            for s in plan["steps"]
        ] == [
            ("survey", seller, today.isoformat(), False),
            ("approve", approver, (today + timedelta(days=3)).isoformat(), True),
            ("contract", curator, (today + timedelta(days=7)).isoformat(), False),
        ]
        assert (plan["progress"]["done"], plan["progress"]["total"]) == (0, 3)

        # Presenting a 15 % discount before the approval is refused.
        refused = await http.post(
            f"{PROPOSALS}/proposals/{station['id']}/status",
            headers=await etag(of(station["id"])),
            json={"status": "presented"},
        )
        assert refused.status_code == 409, refused.text

        # 12. Steps done, one approval; won. ---------------------------------------------------
        # The approval is a person's (four eyes): the finance approver, signed in as themselves.
        approver_token = sign_token(
            processes.private_key.read_bytes(),
            subject="e2e-approver",
            roles=("discount-approver",),
            employee_id=approver,
            scopes=("proposals:read", "proposals:write"),
            issuer="crm-local",
            audience="crm",
        )

        async def step(key: str, action: str) -> Any:
            headers = await etag(of(station["id"]))
            if key == "approve" and action == "complete":
                headers["Authorization"] = f"Bearer {approver_token}"
            return _ok(
                await http.post(f"{PROPOSALS}/steps/{steps[key]['id']}/{action}", headers=headers)
            )

        for key in ("survey", "approve"):
            assert (await step(key, "start"))["state"] == "in_progress"
            assert (await step(key, "complete"))["state"] == "done"
        for status in ("presented", "negotiation"):
            moved = _ok(
                await http.post(
                    f"{PROPOSALS}/proposals/{station['id']}/status",
                    headers=await etag(of(station["id"])),
                    json={"status": status},
                )
            )
            assert moved["status"] == status
        await step("contract", "start")
        assert (await step("contract", "complete"))["state"] == "done"
        progress_now = _ok(await http.get(f"{PROPOSALS}/proposals/{station['id']}/plan"))
        assert (progress_now["progress"]["done"], progress_now["progress"]["total"]) == (3, 3)

        # the spare proposal runs its course too: planned from the same model, only its
        # survey done, presented, then (below) turned down
        spare_plan = _ok(
            await http.put(
                f"{PROPOSALS}/proposals/{spare['id']}/plan",
                headers=await etag(of(spare["id"])),
                json={
                    "sales_model_id": model["id"],
                    "starts_on": today.isoformat(),
                    "assignees": {"survey": seller, "approve": approver, "contract": seller},
                },
            )
        )
        assert [s["model_step_id"] for s in spare_plan["steps"]] == [
            "survey",
            "approve",
            "contract",
        ]
        for action in ("start", "complete"):
            _ok(
                await http.post(
                    f"{PROPOSALS}/steps/{spare_plan['steps'][0]['id']}/{action}",
                    headers=await etag(of(spare["id"])),
                )
            )
        _ok(
            await http.post(
                f"{PROPOSALS}/proposals/{spare['id']}/status",
                headers=await etag(of(spare["id"])),
                json={"status": "presented"},
            )
        )

        # The back office: a plain Kafka consumer, positioned before the deal is won.
        consumer = AIOKafkaConsumer(
            "crm.proposals.v1",
            **stack_kafka_options(stack.kafka_bootstrap),
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        try:

            async def assigned() -> Any:
                return consumer.assignment() or None

            partitions = sorted(await _until(assigned, "the topic's partitions"))
            await consumer.seek_to_end(*partitions)
            for tp in partitions:
                await consumer.position(tp)

            won = _ok(
                await http.post(
                    f"{PROPOSALS}/proposals/{station['id']}/win",
                    headers=await etag(of(station["id"])),
                )
            )
            assert won["status"] == "won"
            lost = _ok(
                await http.post(
                    f"{PROPOSALS}/proposals/{spare['id']}/loss",
                    headers=await etag(of(spare["id"])),
                    json={"reason": "бюджет перенесён на следующий год", "competitor": "Rival"},
                )
            )
            assert lost["status"] == "lost"

            handed_over: dict[str, Any] = {}

            async def received() -> Any:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    for record in records:
                        envelope = json.loads(record.value)
                        if (
                            envelope["event_type"] == "ProposalWon"
                            and envelope["payload"]["proposal_id"] == station["id"]
                        ):
                            handed_over.update(envelope)
                return handed_over or None

            envelope = await _until(received, "ProposalWon on crm.proposals.v1")
        finally:
            await consumer.stop()
        # The contact person travels sealed: the plain consumer reads no name or address, the
        # back office opens them with the key vault (docs/decisions/0074).
        sealed = envelope["payload"]["client_contact"]
        assert "Анна" not in json.dumps(sealed, ensure_ascii=False)
        assert addr["a1"] not in json.dumps(sealed)
        payload = await unsealed(stack, envelope)
        assert envelope["key"] == station["id"]
        assert envelope["schema_version"] == 3
        assert (payload["client_id"], payload["curator_id"], payload["revision"]) == (
            alpha,
            curator,
            1,
        )
        # What a back office needs to open the contract: the version won, the client's legal
        # details and the person to talk to (the proposal's decision maker, a1).
        assert payload["version"] == won["version"]
        assert (payload["client_name"], payload["client_kind"]) == (
            f"ООО Альфа {run}",
            "organisation",
        )
        assert (payload["client_tax_id"], payload["client_country"]) == (alpha_tax_id, "RU")
        assert payload["client_legal_address"] == alpha_address
        assert payload["client_contact"] == {
            "person_id": a1,
            "name": "Анна Смирнова",
            "position": "Engineer",
            "role": "decision_maker",
            "email": addr["a1"],
            "phone": None,
            "mobile": None,
        }
        assert payload["currency"] == "RUB"
        assert [
            (
                line["line_no"],
                line["item_code"],
                line["quantity"],
                line["unit"],
                line["unit_price"],
                line["discount_amount"],
                line["line_total"],
            )
            for line in payload["lines"]
        ] == [
            (1, pump, 3, "pcs", _minor(150_000), _minor(67_500), _minor(382_500)),
            (2, service, 10, "hour", _minor(2_500), _minor(0), _minor(25_000)),
        ]
        assert payload["totals"] == {
            "subtotal": _minor(475_000),
            "discount": _minor(67_500),
            "total": _minor(407_500),
        }

        # 13. The client's timeline tells the story in order. ----------------------------------
        async def story() -> Any:
            entries = _ok(
                await http.get(f"{CONTACTS}/clients/{alpha}/timeline", params={"limit": 200})
            )["items"]
            kinds = [e["kind"] for e in entries]
            return entries if "proposal_lost" in kinds and "proposal_won" in kinds else None

        entries = await _until(story, "alpha's timeline up to the lost proposal")
        # As instants: a time on a whole second is written without a fraction ("…48Z" sorts
        # after "…48.169Z" as text).
        times = [datetime.fromisoformat(e["at"]) for e in entries]
        assert times == sorted(times)
        # Deliveries and needs land whenever their services get to them, and so do contacts'
        # own facts about alpha (registered, people added, curator: read back from the contacts
        # topic); the rest is the story. Facts of the same instant (a questionnaire and what it
        # left) in kind order.
        late = ("notification_delivered", "needs_identified")
        told_story = sorted(
            (
                e
                for e in entries
                if e["kind"] not in late and (e["source"] != "contacts" or e["kind"] == "contact")
            ),
            key=lambda e: (datetime.fromisoformat(e["at"]), e["kind"]),  # as instants, too
        )
        assert [(e["kind"], e["source"]) for e in told_story] == [
            ("participant_added", "campaigns"),
            ("participant_added", "campaigns"),
            ("invited", "campaigns"),
            ("invited", "campaigns"),
            ("answered", "campaigns"),
            ("answered", "campaigns"),
            ("attended", "campaigns"),
            ("contact", "contacts"),  # left by a1's questionnaire
            ("questionnaire", "campaigns"),
            ("contact", "contacts"),  # the curator's talk with a1
            ("proposal_registered", "proposals"),
            ("proposal_registered", "proposals"),
            ("proposal_status_changed", "proposals"),
            ("proposal_status_changed", "proposals"),
            ("proposal_status_changed", "proposals"),
            ("proposal_won", "proposals"),
            ("proposal_lost", "proposals"),
        ], [(e["at"], e["kind"], e["summary"]) for e in entries]
        answers = [e["summary"] for e in told_story if e["kind"] == "answered"]
        assert answers == ["Invitation accepted", "Invitation declined"]
        about = [e["refs"]["proposal_id"] for e in told_story if e["kind"].startswith("prop")]
        assert about == [
            station["id"],
            spare["id"],
            station["id"],
            station["id"],
            spare["id"],
            station["id"],
            spare["id"],
        ]
        moves = [e["summary"] for e in told_story if e["kind"] == "proposal_status_changed"]
        assert moves == [
            "Proposal draft → presented",
            "Proposal presented → negotiation",
            "Proposal draft → presented",
        ]
        invitations = [e for e in entries if e["summary"] == "invitation delivered by email"]
        assert sorted(e["refs"]["person_id"] for e in invitations) == sorted([a1, a2])

        # 14. The mined model reflects the won deal. ------------------------------------------
        async def mined() -> Any:
            got = _ok(await http.get(f"{PROPOSALS}/sales-models/mined"))
            return got if got["won_deals"] >= 1 else None

        model_mined = await _until(mined, "the mined model")
        assert (model_mined["won_deals"], model_mined["lost_deals"]) == (1, 1), model_mined
        mined_steps = {
            s["step_id"]: (s["won_deals"], s["lost_deals"], s["approval"], s["decisive"])
            for s in model_mined["steps"]
        }
        # the survey was done in the won deal and in the lost one; the approval and the
        # contract only in the won one
        assert mined_steps == {
            "survey": (1, 1, False, False),
            "approve": (1, 0, True, True),
            "contract": (1, 0, False, True),
        }, model_mined
