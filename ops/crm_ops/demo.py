"""`crm demo load`: a realistic, deterministic data set loaded through the public HTTP APIs.

Everything goes through the services' own routes with a token minted from the development
key, exactly as an internal app would call them, so every event flows between the services
as it does in use: employees of every department, a catalogue, clients with people and their
consent (Russian and English names), curators, programmes with portraits, past events with
participants, check-ins, questionnaires and contact records, future events with their
invitations sent, two sales models, and proposals in every status (some planned from a
published model, won after their approval step).

The same seed gives the same data set. A second run is refused: the demo catalogue items
already exist.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

SCOPES = (
    "contacts:read",
    "contacts:write",
    "campaigns:read",
    "campaigns:write",
    "proposals:read",
    "proposals:write",
    "proposals:admin",
    "notify:read",
)
DEMO_TAG = "demo"
MARKER_CODE = "DEMO-PUMP-CN100"
"""The first catalogue item the demo adds: its presence means the demo is already loaded."""
CONCURRENCY = 6
"""Clients registered at once: the store serializes writes, the services' work overlaps."""
SETTLE_SECONDS = 90.0
"""How long a step waits for another service to learn what it needs (its projections)."""

Say = Callable[[str], None]

SignIn = Callable[[str], Mapping[str, str]]
"""Headers of an employee's token with the discount-approver role: an approval is a person's."""


class DemoError(RuntimeError):
    """A call was refused; the message carries the problem+json detail."""


class AlreadyLoaded(DemoError):
    """The demo data set is already in this stack."""


def problem_text(response: httpx.Response) -> str:
    """`METHOD path -> status title: detail (field: message; ...)` from a problem+json reply."""
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    try:
        body = response.json()
    except ValueError:
        return f"{where}: {response.text[:300]}"
    if not isinstance(body, dict):
        return f"{where}: {body}"
    text = f"{where} {body.get('title', '')}: {body.get('detail', '')}".rstrip(": ")
    errors = body.get("errors") or []
    if errors:
        text += " (" + "; ".join(f"{e.get('field')}: {e.get('message')}" for e in errors) + ")"
    return text


# -- the data set ---------------------------------------------------------------------------------
RU_FIRST = ["Анна", "Ирина", "Ольга", "Мария", "Елена", "Наталья", "Татьяна", "Светлана"]
RU_FIRST_M = ["Алексей", "Сергей", "Дмитрий", "Андрей", "Павел", "Игорь", "Михаил", "Олег"]
RU_LAST = ["Смирнов", "Иванов", "Кузнецов", "Попов", "Соколов", "Лебедев", "Козлов", "Новиков"]
EN_FIRST = ["John", "Emma", "Oliver", "Sophie", "James", "Grace", "Thomas", "Alice"]
EN_LAST = ["Brown", "Taylor", "Wilson", "Clarke", "Walker", "Hughes", "Wright", "Evans"]
RU_COMPANY = ["Альфа", "Вектор", "Гранит", "Сибирь", "Волга", "Прометей", "Орион", "Кедр"]
RU_SUFFIX = ["Техсервис", "Машстрой", "Энерго", "Агро", "Логистик", "Пром", "Инжиниринг"]
EN_COMPANY = ["Northwind", "Blue Harbor", "Redwood", "Silverline", "Oakfield", "Brightwater"]
EN_SUFFIX = ["Industries", "Machines", "Logistics", "Energy", "Systems", "Foods"]
REGIONS = ["Moscow", "Saint Petersburg", "Novosibirsk", "Kazan", "Yekaterinburg"]
FIELDS = [
    ("machinery", "Machinery"),
    ("energy", "Energy"),
    ("agriculture", "Agriculture"),
    ("logistics", "Logistics"),
    ("food", "Food industry"),
]
SIZES = ["micro", "small", "medium", "large"]
POSITIONS = ["Генеральный директор", "Главный инженер", "Procurement manager", "CTO", "Buyer"]

EMPLOYEES = [
    ("Ольга Маркова", "marketing", "head of marketing", "ru"),
    ("Emily Stone", "marketing", "event manager", "en"),
    ("Ирина Кураторова", "sales", "key account manager", "ru"),
    ("Алексей Продажин", "sales", "sales manager", "ru"),
    ("Mark Seller", "sales", "sales manager", "en"),
    ("Наталья Клиентова", "sales", "sales manager", "ru"),
    ("Павел Сервисов", "service", "service engineer", "ru"),
    ("Linda Fix", "service", "service engineer", "en"),
    ("Фёдор Финансов", "finance", "finance controller", "ru"),
    ("Григорий Складов", "logistics", "logistics manager", "ru"),
    ("Виктор Директоров", "management", "commercial director", "ru"),
]

CATALOGUE = [
    (MARKER_CODE, "Насос ЦН-100", "goods", "pcs", 150_000_00),
    ("DEMO-PUMP-CN250", "Насос ЦН-250", "goods", "pcs", 310_000_00),
    ("DEMO-VALVE-50", "Valve DN50", "goods", "pcs", 12_500_00),
    ("DEMO-CTRL-PLC", "Шкаф управления ПЛК", "goods", "pcs", 98_000_00),
    ("DEMO-SVC-INSTALL", "Монтаж и пусконаладка", "service", "hour", 2_500_00),
    ("DEMO-SVC-AUDIT", "Energy audit", "service", "day", 45_000_00),
    ("DEMO-SVC-TRAINING", "Обучение персонала", "service", "day", 30_000_00),
    ("DEMO-SUPPORT-YEAR", "Annual support", "service", "licence", 120_000_00),
]

PROPOSAL_STATUSES = ("draft", "presented", "negotiation", "won", "lost", "withdrawn")


@dataclass
class Summary:
    employees: int = 0
    catalogue_items: int = 0
    clients: int = 0
    people: int = 0
    curators: int = 0
    programmes: int = 0
    events_past: int = 0
    events_future: int = 0
    participants: int = 0
    attended: int = 0
    questionnaires: int = 0
    contact_records: int = 0
    sales_models: int = 0
    proposals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROPOSAL_STATUSES, 0))


@dataclass
class _Client:
    id: str
    name: str
    region: str
    field: str
    people: list[str]
    consenting: list[str]
    curator: str | None = None


class Api:
    """One service's HTTP API: JSON calls that either succeed or raise with the problem."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def call(
        self,
        method: str,
        path: str,
        *,
        expect: tuple[int, ...] = (200, 201, 202),
        if_match_of: str | None = None,
        **kwargs: Any,
    ) -> Any:
        headers = dict(kwargs.pop("headers", {}) or {})
        if if_match_of is not None:
            current = await self.http.get(if_match_of)
            if current.status_code != 200:
                raise DemoError(problem_text(current))
            headers["If-Match"] = current.headers["ETag"]
        response = await self.http.request(method, path, headers=headers, **kwargs)
        if response.status_code not in expect:
            raise DemoError(problem_text(response))
        return response.json() if response.content else None

    async def settled(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call until the service has learned what the call needs from other services' events
        (an unknown client, person or curator is refused until its projection catches up)."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            try:
                return await self.call(method, path, **kwargs)
            except DemoError as exc:
                if time.monotonic() > deadline or " -> 4" not in str(exc):
                    raise
            await asyncio.sleep(0.5)


class DemoLoader:
    def __init__(
        self,
        clients: Mapping[str, httpx.AsyncClient],
        *,
        n_clients: int = 300,
        seed: int = 7,
        today: date | None = None,
        say: Say = print,
        approver: SignIn,
    ) -> None:
        self.approver = approver
        self.contacts = Api(clients["contacts"])
        self.campaigns = Api(clients["campaigns"])
        self.proposals = Api(clients["proposals"])
        self.n_clients = n_clients
        self.rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        self.today = today or datetime.now(UTC).date()
        self.say = say
        self.summary = Summary()
        self.employees: dict[str, list[str]] = {}
        self.clients: list[_Client] = []

    # -- the whole load ---------------------------------------------------------------------------
    async def load(self) -> Summary:
        await self._refuse_a_second_run()
        await self._employees()
        await self._catalogue()
        await self._clients()
        await self._curators()
        models = await self._sales_models()
        programmes = await self._programmes()
        await self._events(programmes)
        await self._contact_records()
        await self._proposals(models)
        self.say("demo loaded: " + _describe(self.summary))
        return self.summary

    async def _refuse_a_second_run(self) -> None:
        r = await self.proposals.http.get(f"/catalog/{MARKER_CODE}")
        if r.status_code == 200:
            raise AlreadyLoaded(
                f"the demo is already loaded here (catalogue item {MARKER_CODE} exists); "
                "it loads once into a fresh stack"
            )
        if r.status_code != 404:
            raise DemoError(problem_text(r))

    def _person_name(self, english: bool) -> str:
        if english:
            return f"{self.rng.choice(EN_FIRST)} {self.rng.choice(EN_LAST)}"
        if self.rng.random() < 0.5:
            return f"{self.rng.choice(RU_FIRST)} {self.rng.choice(RU_LAST)}а"
        return f"{self.rng.choice(RU_FIRST_M)} {self.rng.choice(RU_LAST)}"

    async def _employees(self) -> None:
        for index, (name, department, role, language) in enumerate(EMPLOYEES, start=1):
            created = await self.contacts.call(
                "POST",
                "/employees",
                json={
                    "name": name,
                    "department": department,
                    "role": role,
                    "language": language,
                    "channels": {
                        "email": f"employee{index}@demo.crm.example",
                        "mobile": f"+7900{index:07d}",
                    },
                },
            )
            self.employees.setdefault(department, []).append(created["id"])
            self.summary.employees += 1
        self.say(f"employees: {self.summary.employees} in {len(self.employees)} departments")

    async def _catalogue(self) -> None:
        for code, name, kind, unit, price in CATALOGUE:
            await self.proposals.call(
                "POST",
                "/catalog",
                json={
                    "code": code,
                    "name": name,
                    "kind": kind,
                    "unit": unit,
                    "list_price": {"amount_minor": price, "currency": "RUB"},
                },
            )
            self.summary.catalogue_items += 1
        self.say(f"catalogue: {self.summary.catalogue_items} items")

    def _client_plan(self, n: int) -> dict[str, Any]:
        """Client ``n`` as the seed decides it; drawn in order, so concurrency cannot change it."""
        english = self.rng.random() < 0.3
        if english:
            name = f"{self.rng.choice(EN_COMPANY)} {self.rng.choice(EN_SUFFIX)} #{n}"
        else:
            name = f'ООО "{self.rng.choice(RU_COMPANY)}-{self.rng.choice(RU_SUFFIX)}" №{n}'
        code, label = self.rng.choice(FIELDS)
        client = {
            "name": name,
            "region": self.rng.choice(REGIONS),
            "country": "GB" if english and self.rng.random() < 0.3 else "RU",
            "size": self.rng.choice(SIZES),
            "tags": [DEMO_TAG, code],
            "field_of_activity": {"code": code, "label": label},
            "website": f"https://client{n}.demo.example",
        }
        people = [
            {
                "name": self._person_name(english),
                "language": "en" if english else "ru",
                "position": self.rng.choice(POSITIONS),
                "channels": {
                    "email": f"person{n}-{p}@client{n}.demo.example",
                    "phone": f"+7495{n:04d}{p:03d}",
                },
                "consents": ["email"] if self.rng.random() < 0.8 else [],
            }
            for p in range(1, self.rng.randint(1, 3) + 1)
        ]
        roll = self.rng.random()
        status = "active" if roll < 0.35 else "partner" if roll < 0.42 else None
        return {"client": client, "people": people, "status": status}

    async def _create_client(self, plan: dict[str, Any]) -> _Client:
        body = plan["client"]
        created = await self.contacts.call("POST", "/clients", params={"insist": "true"}, json=body)
        client = _Client(
            created["id"], body["name"], body["region"], body["field_of_activity"]["code"], [], []
        )
        for person_body in plan["people"]:
            person = await self.contacts.call(
                "POST",
                f"/clients/{client.id}/people",
                params={"insist": "true"},
                json=person_body,
            )
            client.people.append(person["id"])
            if person_body["consents"]:
                client.consenting.append(person["id"])
        if plan["status"] is not None:
            reason = {"active": "first contract signed", "partner": "partnership agreement"}
            await self.contacts.call(
                "POST",
                f"/clients/{client.id}/status",
                if_match_of=f"/clients/{client.id}",
                json={"status": plan["status"], "reason": reason[plan["status"]]},
            )
        return client

    async def _clients(self) -> None:
        plans = [self._client_plan(n) for n in range(1, self.n_clients + 1)]
        step = max(CONCURRENCY, self.n_clients // 10)
        for start in range(0, len(plans), CONCURRENCY):
            chunk = plans[start : start + CONCURRENCY]
            made = await asyncio.gather(*(self._create_client(plan) for plan in chunk))
            self.clients += made
            self.summary.clients += len(made)
            self.summary.people += sum(len(c.people) for c in made)
            done = len(self.clients)
            if done % step < CONCURRENCY or done == self.n_clients:
                self.say(f"clients: {done}/{self.n_clients} ({self.summary.people} people)")

    async def _curators(self) -> None:
        sales = self.employees["sales"]
        for index, client in enumerate(self.clients):
            if index % 5 in (0, 1, 2):  # three clients in five have a curator
                curator = sales[index % len(sales)]
                await self.contacts.call(
                    "PUT",
                    f"/clients/{client.id}/curator",
                    if_match_of=f"/clients/{client.id}",
                    json={"employee_id": curator},
                )
                client.curator = curator
                self.summary.curators += 1
        self.say(f"curators: {self.summary.curators} clients have one")

    async def _sales_models(self) -> list[str]:
        models = [
            (
                "Поставка оборудования",
                [
                    ("survey", "Обследование объекта", "service", 0, False, []),
                    ("offer", "Техническое предложение", "sales", 5, False, ["survey"]),
                    ("approve", "Согласование скидки", "finance", 8, True, ["offer"]),
                    ("contract", "Договор", "sales", 14, False, ["approve"]),
                ],
            ),
            (
                "Service contract",
                [
                    ("call", "Discovery call", "sales", 0, False, []),
                    ("approve", "Price approval", "management", 3, True, ["call"]),
                    ("sign", "Signing", "sales", 7, False, ["approve"]),
                ],
            ),
        ]
        ids = []
        for name, steps in models:
            created = await self.proposals.call(
                "POST",
                "/sales-models",
                json={
                    "name": name,
                    "steps": [
                        {
                            "step_id": sid,
                            "title": title,
                            "department": dept,
                            "offset_days": offset,
                            "approval": approval,
                            "depends_on": deps,
                        }
                        for sid, title, dept, offset, approval, deps in steps
                    ],
                },
            )
            await self.proposals.call(
                "POST",
                f"/sales-models/{created['id']}/publish",
                if_match_of=f"/sales-models/{created['id']}",
                json={},
            )
            ids.append(created["id"])
            self.summary.sales_models += 1
        self.say(f"sales models: {self.summary.sales_models} published")
        return ids

    async def _programmes(self) -> list[dict[str, Any]]:
        specs = [
            ("Насосы для машиностроения", ["machinery"], ["Moscow", "Saint Petersburg"]),
            ("Energy efficiency 2027", ["energy"], []),
            ("Агросезон", ["agriculture", "food"], ["Novosibirsk", "Kazan"]),
        ]
        programmes = []
        for name, fields, regions in specs:
            created = await self.campaigns.call(
                "POST",
                "/programmes",
                json={
                    "name": name,
                    "starts_on": (self.today - timedelta(days=90)).isoformat(),
                    "ends_on": (self.today + timedelta(days=180)).isoformat(),
                    "portrait": {"field_of_activity_codes": fields, "regions": regions},
                    "promoted_item_codes": [c[0] for c in CATALOGUE[:4]],
                    "budget": {"amount_minor": 2_000_000_00, "currency": "RUB"},
                },
            )
            programmes.append({**created, "fields": fields, "regions": regions})
            self.summary.programmes += 1
        self.say(f"programmes: {self.summary.programmes}")
        return programmes

    def _matching(self, programme: dict[str, Any]) -> list[_Client]:
        return [
            c
            for c in self.clients
            if c.field in programme["fields"]
            and (not programme["regions"] or c.region in programme["regions"])
            and c.consenting
        ]

    async def _events(self, programmes: list[dict[str, Any]]) -> None:
        marketing = self.employees["marketing"]
        kinds = ["seminar", "exhibition", "presentation"]
        for index, programme in enumerate(programmes):
            for past in (True, False):
                days = -(20 + 10 * index) if past else 25 + 10 * index
                starts = datetime.combine(
                    self.today + timedelta(days=days), datetime.min.time(), tzinfo=UTC
                ) + timedelta(hours=7)
                event = await self.campaigns.call(
                    "POST",
                    "/events",
                    json={
                        "kind": kinds[index % len(kinds)],
                        "title": f"{programme['name']}: {'итоги' if past else 'новинки'}",
                        "programme_id": programme["id"],
                        "starts_at": starts.isoformat(),
                        "ends_at": (starts + timedelta(hours=5)).isoformat(),
                        "timezone": "Europe/Moscow",
                        "place": {"venue": "Экспоцентр", "address": "Москва"},
                        "responsible_employee_ids": [marketing[index % len(marketing)]],
                        "capacity": 200,
                        "budget": {"amount_minor": 300_000_00, "currency": "RUB"},
                    },
                )
                if past:
                    await self._past_event(event, programme)
                else:
                    await self._future_event(event, programme)

    async def _future_event(self, event: dict[str, Any], programme: dict[str, Any]) -> None:
        matching = self._matching(programme)
        if matching:  # wait until campaigns knows the last matching client
            await self.campaigns.settled("GET", f"/audience/clients/{matching[-1].id}")
        added = await self.campaigns.call(
            "POST", f"/events/{event['id']}/participants/by-portrait", json={}
        )
        self.summary.participants += added["added"]
        await self.campaigns.call("POST", f"/events/{event['id']}/invitations", json={})
        self.summary.events_future += 1
        self.say(
            f"event ahead: {event['title']}: {added['added']} participants by portrait, "
            "invitations on their way"
        )

    async def _past_event(self, event: dict[str, Any], programme: dict[str, Any]) -> None:
        eid = event["id"]
        people = [(c, p) for c in self._matching(programme) for p in c.consenting][:40]
        participants: list[tuple[_Client, dict[str, Any]]] = []
        if people:
            added = await self.campaigns.settled(
                "POST",
                f"/events/{eid}/participants",
                json={"people": [{"person_id": p} for _, p in people]},
            )
            by_person = {p["person_id"]: p for p in added["items"]}
            participants = [(c, by_person[p]) for c, p in people if p in by_person]
            self.summary.participants += added["added"]
        await self.campaigns.call(
            "PUT",
            f"/events/{eid}/questionnaire",
            headers={"If-Match": '"0"'},
            json={
                "title": "Анкета участника",
                "questions": [
                    {"question_id": "rating", "kind": "scale", "text": "Оценка", "required": True},
                    {
                        "question_id": "interest",
                        "kind": "product_interest",
                        "text": "Что вас заинтересовало?",
                        "options": [c[0] for c in CATALOGUE],
                    },
                    {"question_id": "comment", "kind": "free_text", "text": "Ваши пожелания"},
                ],
            },
        )
        sales = self.employees["sales"]
        attended_before = self.summary.attended
        for client, participant in participants:
            if self.rng.random() < 0.3:
                continue  # did not come
            await self.campaigns.call(
                "POST", f"/events/{eid}/attendance", json={"participant_id": participant["id"]}
            )
            self.summary.attended += 1
            if self.rng.random() < 0.6:
                interest = self.rng.sample([c[0] for c in CATALOGUE], self.rng.randint(1, 3))
                await self.campaigns.call(
                    "POST",
                    f"/events/{eid}/questionnaire/responses",
                    json={
                        "participant_id": participant["id"],
                        "answers": [
                            {"question_id": "rating", "scale": self.rng.randint(3, 5)},
                            {"question_id": "interest", "choices": sorted(interest)},
                        ],
                    },
                )
                self.summary.questionnaires += 1
            if self.rng.random() < 0.4:
                await self.contacts.call(
                    "POST",
                    "/contacts",
                    json={
                        "client_id": client.id,
                        "person_id": participant["person_id"],
                        "employee_id": self.rng.choice(sales),
                        "event_id": eid,
                        "kind": "event_talk",
                        "direction": "inbound",
                        "occurred_at": event["starts_at"],
                        "summary": "Разговор на стенде: интерес к насосному оборудованию",
                        "need_item_codes": [self.rng.choice(CATALOGUE)[0]],
                    },
                )
                self.summary.contact_records += 1
        # a visitor nobody knew: a paper questionnaire makes them a potential client
        await self.campaigns.call(
            "POST",
            f"/events/{eid}/questionnaire/responses",
            json={
                "answers": [
                    {"question_id": "rating", "scale": 4},
                    {"question_id": "interest", "choices": [CATALOGUE[4][0]]},
                    {"question_id": "comment", "text": "Хотим демонстрацию на нашем объекте"},
                ],
                "respondent": {
                    "name": self._person_name(False),
                    "organisation": f"ИП Новый посетитель {event['title'][:20]}",
                    "email": f"visitor-{eid[:8]}@demo.example",
                    "consented_channels": ["email"],
                },
            },
        )
        self.summary.questionnaires += 1
        await self.campaigns.call(
            "PUT",
            f"/events/{eid}/estimate",
            if_match_of=f"/events/{eid}",
            json={
                "currency": "RUB",
                "lines": [
                    {
                        "category": "venue",
                        "quantity": 1,
                        "planned_unit_minor": 150_000_00,
                        "actual_unit_minor": 160_000_00,
                    },
                    {
                        "category": "catering",
                        "quantity": 50,
                        "planned_unit_minor": 1_500_00,
                        "actual_unit_minor": 1_400_00,
                    },
                ],
            },
        )
        await self.campaigns.call("POST", f"/events/{eid}/complete", if_match_of=f"/events/{eid}")
        self.summary.events_past += 1
        self.say(
            f"event held: {event['title']}: {len(participants)} participants, "
            f"{self.summary.attended - attended_before} attended"
        )

    async def _contact_records(self) -> None:
        employees = self.employees["sales"] + self.employees["service"]
        kinds = ["call", "meeting", "email", "letter", "service_visit"]
        for index, client in enumerate(self.clients):
            if index % 2:
                continue
            occurred = datetime.combine(
                self.today - timedelta(days=self.rng.randint(1, 120)),
                datetime.min.time(),
                tzinfo=UTC,
            ) + timedelta(hours=self.rng.randint(6, 15))
            await self.contacts.call(
                "POST",
                "/contacts",
                json={
                    "client_id": client.id,
                    "person_id": client.people[0],
                    "employee_id": self.rng.choice(employees),
                    "kind": self.rng.choice(kinds),
                    "direction": self.rng.choice(["inbound", "outbound"]),
                    "occurred_at": occurred.isoformat(),
                    "summary": self.rng.choice(
                        [
                            "Обсудили потребность в модернизации насосной станции",
                            "Asked for a quote on annual support",
                            "Плановый сервисный визит, замечаний нет",
                            "Sent the product catalogue",
                        ]
                    ),
                    "need_tags": [self.rng.choice(["modernisation", "support", "training"])],
                },
            )
            self.summary.contact_records += 1
        self.say(f"contact records: {self.summary.contact_records}")

    async def _proposals(self, models: list[str]) -> None:
        curated = [c for c in self.clients if c.curator]
        if not curated:
            return
        # proposals learns curators from contacts' events: wait for the last one
        count = max(len(PROPOSAL_STATUSES), len(curated) // 2)
        for index in range(count):
            client = curated[index % len(curated)]
            status = PROPOSAL_STATUSES[index % len(PROPOSAL_STATUSES)]
            await self._proposal(client, status, models[index % len(models)], index)
            if (index + 1) % 20 == 0 or index + 1 == count:
                done = ", ".join(f"{k} {v}" for k, v in self.summary.proposals.items())
                self.say(f"proposals: {index + 1}/{count} ({done})")

    async def _proposal(self, client: _Client, status: str, model: str, index: int) -> None:
        items = self.rng.sample(CATALOGUE, self.rng.randint(1, 3))
        discounted = status == "won" and index % 2 == 0
        lines = [
            {
                "item_code": code,
                "quantity": self.rng.randint(1, 5) if kind == "goods" else self.rng.randint(5, 40),
                **(
                    {"discount": {"kind": "percent", "basis_points": 1500}}
                    if discounted and n == 0
                    else {}
                ),
            }
            for n, (code, _, kind, _, _) in enumerate(items)
        ]
        created = await self.proposals.settled(
            "POST",
            "/proposals",
            json={
                "client_id": client.id,
                "title": f"Предложение №{index + 1}: {items[0][1]}",
                "lines": lines,
                "valid_until": (self.today + timedelta(days=60)).isoformat(),
                "participants": [
                    {"side": "client", "role": "decision_maker", "person_id": client.people[0]}
                ],
            },
        )
        pid = created["id"]
        here = f"/proposals/{pid}"
        if status in ("won", "lost", "negotiation"):
            await self._plan(pid, model, finish=status == "won")
        if status == "withdrawn":
            await self.proposals.call(
                "POST", f"{here}/status", if_match_of=here, json={"status": "withdrawn"}
            )
        elif status != "draft":
            await self.proposals.call(
                "POST", f"{here}/status", if_match_of=here, json={"status": "presented"}
            )
            if status in ("negotiation", "won"):
                await self.proposals.call(
                    "POST", f"{here}/status", if_match_of=here, json={"status": "negotiation"}
                )
            if status == "won":
                await self.proposals.call("POST", f"{here}/win", if_match_of=here)
            elif status == "lost":
                await self.proposals.call(
                    "POST",
                    f"{here}/loss",
                    if_match_of=here,
                    json={"reason": "выбрали более дешёвое решение", "competitor": "Rival LLC"},
                )
        self.summary.proposals[status] += 1

    async def _plan(self, proposal_id: str, model: str, *, finish: bool) -> None:
        here = f"/proposals/{proposal_id}"
        departments = {"sales", "service", "finance", "management"}
        got = await self.proposals.call("GET", f"/sales-models/{model}")
        published = next(v for v in got["versions"] if v["version"] == got["published_version"])
        assignees = {
            s["step_id"]: self.employees[s["department"]][0]
            for s in published["steps"]
            if s["department"] in departments
        }
        plan = await self.proposals.call(
            "PUT",
            f"{here}/plan",
            if_match_of=here,
            json={
                "sales_model_id": model,
                "starts_on": (self.today - timedelta(days=20)).isoformat(),
                "assignees": assignees,
            },
        )
        steps = plan["steps"] if finish else plan["steps"][:1]
        for step in steps:
            for action in ("start", "complete"):
                # Four eyes: the approval step's assignee approves, signed in as themselves.
                as_person = action == "complete" and step["approval"] and step["assignee_id"]
                await self.proposals.call(
                    "POST",
                    f"/steps/{step['id']}/{action}",
                    if_match_of=here,
                    headers=self.approver(step["assignee_id"]) if as_person else None,
                )


def _describe(s: Summary) -> str:
    proposals = ", ".join(f"{k} {v}" for k, v in s.proposals.items())
    return (
        f"{s.employees} employees, {s.catalogue_items} catalogue items, {s.clients} clients "
        f"with {s.people} people ({s.curators} curated), {s.programmes} programmes, "
        f"{s.events_past} past and {s.events_future} future events with {s.participants} "
        f"participants ({s.attended} attended, {s.questionnaires} questionnaires), "
        f"{s.contact_records} contact records, {s.sales_models} sales models, "
        f"proposals: {proposals}"
    )


def bearer(private_pem: bytes, issuer: str, audience: str) -> dict[str, str]:
    from crm_kit.auth import sign_token

    # The demo loader is an internal app registering the demo's data on its own account.
    token = sign_token(
        private_pem,
        subject="crm-demo",
        scopes=SCOPES,
        issuer=issuer,
        audience=audience,
        roles=("integration",),
    )
    return {"Authorization": f"Bearer {token}"}


def approver_bearer(private_pem: bytes, issuer: str, audience: str) -> SignIn:
    """Development tokens of the demo's approvers (the demo stands in for them signing in)."""
    from crm_kit.auth import sign_token

    def headers(employee_id: str) -> dict[str, str]:
        token = sign_token(
            private_pem,
            subject=f"crm-demo-{employee_id}",
            scopes=("proposals:read", "proposals:write"),
            issuer=issuer,
            audience=audience,
            roles=("discount-approver",),
            employee_id=employee_id,
        )
        return {"Authorization": f"Bearer {token}"}

    return headers


async def load_over_http(
    urls: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    approver: SignIn,
    n_clients: int,
    seed: int,
    say: Say = print,
) -> Summary:
    """The CLI's entry: one client per service at its base URL."""
    opened = {
        name: httpx.AsyncClient(base_url=url, headers=dict(headers), timeout=60)
        for name, url in urls.items()
    }
    try:
        loader = DemoLoader(opened, n_clients=n_clients, seed=seed, say=say, approver=approver)
        return await loader.load()
    finally:
        for client in opened.values():
            await client.aclose()
