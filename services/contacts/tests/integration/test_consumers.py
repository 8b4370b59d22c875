"""What contacts makes of other services' facts: potential clients and the timeline."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from crm_contracts.backoffice import ContractSigned, DealRefused, OrderPlaced, PaymentReceived
from crm_contracts.base import ContractEvent
from crm_contracts.campaign_parts import Participant, Respondent
from crm_contracts.campaigns import (
    InvitationRequested,
    NeedsIdentified,
    ParticipantsAdded,
    QuestionnaireSubmitted,
)
from crm_contracts.common import ChannelAddresses, Place, Recipient
from crm_contracts.contacts import (
    ClientRegistered,
    ClientStatusChanged,
    ConsentChanged,
    ContactRecorded,
    PersonAdded,
    PersonErased,
)
from crm_contracts.envelope import Envelope
from crm_contracts.money import Money
from crm_contracts.notify import NotificationDelivered, UnsubscribeRequested
from crm_contracts.personal import PERSON_SUBJECT, RESPONSE_SUBJECT, subject_id
from crm_contracts.proposal_parts import ProposalTotals
from crm_contracts.proposals import (
    ProposalLost,
    ProposalRegistered,
    ProposalRevised,
    ProposalStatusChanged,
    ProposalWon,
)
from crm_contracts.values import (
    Channel,
    NeedsSource,
    NotificationKind,
    ParticipantRole,
    ProposalStatus,
    RecipientKind,
    ResponseChannel,
    SelectionMode,
)
from crm_kit.testing import (
    JwtKeys,
    StackEndpoints,
    bearer,
    eventually,
    stack_kafka_options,
)

from .conftest import Contacts, started

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
async def contacts(stack: StackEndpoints, jwt_keys: JwtKeys) -> AsyncIterator[Contacts]:
    """This module's app runs its consumers (the others serve HTTP only)."""
    async with started(stack, jwt_keys, consumers=True) as running_contacts:
        yield running_contacts


async def _publish(contacts: Contacts, *envelopes: Envelope) -> None:
    producer = AIOKafkaProducer(**stack_kafka_options(contacts.stack.kafka_bootstrap), acks="all")
    await producer.start()
    try:
        for envelope in envelopes:
            event_topic = envelope.open().topic
            await producer.send_and_wait(
                event_topic, value=envelope.to_bytes(), key=envelope.key.encode()
            )
    finally:
        await producer.stop()


def _wrap(event: ContractEvent, producer: str) -> Envelope:
    return Envelope.wrap(event, producer=producer)


def _questionnaire(
    respondent: Respondent, response_id: str | None = None
) -> QuestionnaireSubmitted:
    return QuestionnaireSubmitted(
        event_id=f"ev-{uuid.uuid4().hex[:8]}",
        response_id=response_id or str(uuid.uuid4()),
        respondent=respondent,
        product_interest_codes=("SOLAR-1",),
        channel=ResponseChannel.PAPER,
        submitted_at=T0,
    )


async def _clients_from(contacts: Contacts, response_id: str) -> list[dict[str, Any]]:
    cursor = contacts.db["clients"].find({"source.questionnaire_response_id": response_id})
    return [d async for d in cursor]


async def test_an_unknown_respondent_becomes_one_potential_client_however_often_redelivered(
    contacts: Contacts,
) -> None:
    marker = uuid.uuid4().hex[:10]
    event = _questionnaire(
        Respondent(
            name="Olga Smirnova",
            organisation=f"Solar {marker}",
            position="Buyer",
            channels=ChannelAddresses(email=f"Olga.{marker}@Solar.example", phone="not a phone"),
            consented_channels=(Channel.EMAIL, Channel.PHONE),
        )
    )
    since = await contacts.offsets()
    first = _wrap(event, "campaigns")
    # The same envelope twice, then the same fact in a new envelope (a producer's replay).
    await _publish(contacts, first, first, _wrap(event, "campaigns"))

    found = await eventually(
        lambda: _clients_from(contacts, event.response_id), what="the potential client"
    )
    client = found[0]
    assert (client["name"], client["status"], client["source"]["kind"]) == (
        f"Solar {marker}",
        "potential",
        "questionnaire",
    )
    assert client["source"]["event_id"] == event.event_id
    [person] = client["people"]
    assert person["channels"]["email"] == f"olga.{marker}@solar.example"
    assert person["channels"]["phone"] is None  # the unreadable number was dropped
    assert [(c["channel"], c["source"]) for c in person["consents"]] == [("email", "questionnaire")]

    # Other developers' contacts instances on the shared topic replay this questionnaire into
    # their own stores and publish the same facts under the same derived id, so this checks
    # the facts' content, not how many instances published them.
    envelopes = await contacts.events(since, client["_id"], until=2)
    assert {e.event_type for e in envelopes} == {"ClientRegistered", "PersonAdded"}
    for envelope in envelopes:
        if envelope.event_type == "ClientRegistered":
            registered = envelope.open_as(ClientRegistered)
            assert registered.source.questionnaire_response_id == event.response_id
        else:
            assert envelope.open_as(PersonAdded).person_id == person["person_id"]
    assert len(await _clients_from(contacts, event.response_id)) == 1

    async def timeline() -> Any:
        response = await contacts.api.get(
            f"/clients/{client['_id']}/timeline", headers=contacts.reader
        )
        items = response.json()["items"]
        kinds = {e["kind"] for e in items}
        return items if {"questionnaire", "registered", "person_added"} <= kinds else None

    # The questionnaire, and contacts' own facts of the client and person it registered: once
    # each, however often redelivered (here and by other instances on the shared topic).
    items = await eventually(timeline, what="the questionnaire on the timeline")
    assert sorted(e["kind"] for e in items) == ["person_added", "questionnaire", "registered"]
    [entry] = [e for e in items if e["kind"] == "questionnaire"]
    assert (entry["kind"], entry["source"]) == ("questionnaire", "campaigns")
    assert entry["refs"]["response_id"] == event.response_id


async def test_a_known_respondent_gets_a_contact_record_instead(contacts: Contacts) -> None:
    client = await contacts.register()
    email = f"known.{uuid.uuid4().hex[:10]}@example.com"
    person = await contacts.add_person(client["id"], channels={"email": email})
    event = _questionnaire(
        Respondent(name="Whoever", channels=ChannelAddresses(email=email.upper()))
    )
    since = await contacts.offsets()
    await _publish(contacts, _wrap(event, "campaigns"))

    async def records() -> Any:
        cursor = contacts.db["contacts"].find({"client_id": client["id"]})
        return [d async for d in cursor]

    [record] = await eventually(records, what="the contact record")
    assert (record["person_id"], record["event_id"], record["need_item_codes"]) == (
        person["id"],
        event.event_id,
        ["SOLAR-1"],
    )
    [envelope] = await contacts.events(since, client["id"], only=("ContactRecorded",))
    assert envelope.open_as(ContactRecorded).employee_id == "system"
    assert await _clients_from(contacts, event.response_id) == []


async def test_erasing_a_known_respondent_destroys_the_key_of_the_questionnaire_they_answered(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    email = f"erased.{uuid.uuid4().hex[:10]}@example.com"
    person = await contacts.add_person(client["id"], channels={"email": email})
    event = _questionnaire(Respondent(name="Anna Known", channels=ChannelAddresses(email=email)))
    await _publish(contacts, _wrap(event, "campaigns"))

    async def recorded() -> Any:
        return await contacts.db["contacts"].find_one({"client_id": client["id"]})

    await eventually(recorded, what="the contact record of the questionnaire")
    since = await contacts.offsets()
    officer = bearer(contacts.keys, "contacts:read", "contacts:admin", roles=("data-protection",))

    erased = await contacts.api.post(f"/people/{person['id']}/erasure", headers=officer)

    assert erased.status_code == 200, erased.text
    [envelope] = await contacts.events(since, client["id"], only=("PersonErased",))
    subjects = envelope.open_as(PersonErased).subjects
    assert subject_id(RESPONSE_SUBJECT, event.response_id) in subjects
    assert subject_id(PERSON_SUBJECT, person["id"]) in subjects


async def test_the_timeline_merges_contacts_and_other_services_facts_in_time_order(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    person = await contacts.add_person(client["id"])
    employee = await contacts.employee()
    recipient = Recipient(kind=RecipientKind.PERSON, id=person["id"], client_id=client["id"])
    invited = InvitationRequested(
        event_id="ev-fair",
        participant_id="pt-1",
        recipient=recipient,
        role=ParticipantRole.GUEST,
        event_title="Autumn fair",
        event_kind="exhibition",
        place=Place(venue="Expo"),
        starts_at=T0 + timedelta(days=10),
        ends_at=T0 + timedelta(days=11),
        timezone="Europe/Moscow",
        answer_token="tok",
        requested_at=T0,
    )
    delivered = NotificationDelivered(
        notification_id=str(uuid.uuid4()),
        source_event_id=str(uuid.uuid4()),
        source_event_type="InvitationRequested",
        recipient=recipient,
        kind=NotificationKind.INVITATION,
        attempts=1,
        channel=Channel.EMAIL,
        delivered_at=T0 + timedelta(minutes=5),
    )
    proposal = ProposalRegistered(
        proposal_id=str(uuid.uuid4()),
        revision=1,
        client_id=client["id"],
        curator_id=employee["id"],
        title="Solar roof",
        status=ProposalStatus.DRAFT,
        currency="EUR",
        lines=(),
        totals=ProposalTotals(
            subtotal=Money.zero("EUR"), discount=Money.zero("EUR"), total=Money.zero("EUR")
        ),
        registered_at=T0 + timedelta(days=2),
    )
    recorded = await contacts.api.post(
        "/contacts",
        json={
            "client_id": client["id"],
            "employee_id": employee["id"],
            "kind": "call",
            "occurred_at": (T0 + timedelta(days=1)).isoformat(),
            "summary": "Discussed the roof",
        },
        headers=contacts.writer,
    )
    assert recorded.status_code == 201
    # Published out of time order, and the invitation twice.
    invitation = _wrap(invited, "campaigns")
    await _publish(
        contacts,
        _wrap(proposal, "proposals"),
        invitation,
        _wrap(delivered, "notify"),
        invitation,
    )

    async def everything() -> Any:
        response = await contacts.api.get(
            f"/clients/{client['id']}/timeline", headers=contacts.reader
        )
        items = response.json()["items"]
        return items if len(items) >= 6 else None

    # Four facts above, and contacts' own: the registration and the person added (now).
    await eventually(everything, what="six timeline entries")
    url = f"/clients/{client['id']}/timeline"
    first = (await contacts.api.get(url, params={"limit": 3}, headers=contacts.reader)).json()
    assert [e["kind"] for e in first["items"]] == ["invited", "notification_delivered", "contact"]
    assert first["items"][0]["summary"] == "Invited to Autumn fair"
    rest = await contacts.api.get(
        url, params={"cursor": first["next_cursor"]}, headers=contacts.reader
    )
    assert [e["kind"] for e in rest.json()["items"]] == [
        "proposal_registered",
        "registered",
        "person_added",
    ]
    assert rest.json()["next_cursor"] is None


def _revised(proposal_id: str, client_id: str, revision: int, at: datetime) -> ProposalRevised:
    return ProposalRevised(
        proposal_id=proposal_id,
        revision=revision,
        client_id=client_id,
        title="Solar roof",
        reason="bigger roof" if revision == 2 else None,
        currency="EUR",
        lines=(),
        totals=ProposalTotals(
            subtotal=Money.zero("EUR"), discount=Money.zero("EUR"), total=Money.zero("EUR")
        ),
        revised_at=at,
    )


def _needs(event_id: str, person_id: str, source_id: str, at: datetime) -> NeedsIdentified:
    return NeedsIdentified(
        event_id=event_id,
        person_id=person_id,  # no client id: contacts finds the person's client
        source=NeedsSource.QUESTIONNAIRE,
        source_id=source_id,
        item_codes=("SOLAR-1",),
        tags=("storage",),
        identified_at=at,
    )


async def test_participants_needs_and_revisions_join_the_timeline_once_each(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    first = await contacts.add_person(client["id"])
    second = await contacts.add_person(client["id"])
    stranger = await contacts.add_person((await contacts.register())["id"])
    event_id = f"ev-{uuid.uuid4().hex[:8]}"
    added = ParticipantsAdded(
        event_id=event_id,
        participants=(
            Participant(
                participant_id="pt-a",
                kind=RecipientKind.PERSON,
                person_id=first["id"],
                client_id=client["id"],
                role=ParticipantRole.GUEST,
            ),
            # No client id: the person's client is looked up.
            Participant(
                participant_id="pt-b",
                kind=RecipientKind.PERSON,
                person_id=second["id"],
                role=ParticipantRole.SPEAKER,
            ),
            Participant(
                participant_id="pt-c",
                kind=RecipientKind.EMPLOYEE,
                employee_id="emp-1",
                client_id=client["id"],
                role=ParticipantRole.STAFF,
            ),
            Participant(
                participant_id="pt-d",
                kind=RecipientKind.PERSON,
                person_id=stranger["id"],
                client_id=stranger["client_id"],
                role=ParticipantRole.GUEST,
            ),
        ),
        selection=SelectionMode.PORTRAIT,
        added_at=T0 + timedelta(hours=1),
    )
    proposal_id = str(uuid.uuid4())
    needs = _needs(event_id, first["id"], str(uuid.uuid4()), T0 + timedelta(hours=3))
    revised = _revised(proposal_id, client["id"], 2, T0 + timedelta(hours=2))
    # Each fact twice in one envelope and once more in a new one (a producer's replay); the
    # last fact of each key arrives after its repeats on the same partition.
    for fact, producer in ((added, "campaigns"), (needs, "campaigns"), (revised, "proposals")):
        envelope = _wrap(fact, producer)
        await _publish(contacts, envelope, envelope, _wrap(fact, producer))
    await _publish(
        contacts,
        _wrap(
            _needs(event_id, first["id"], str(uuid.uuid4()), T0 + timedelta(hours=4)), "campaigns"
        ),
        _wrap(_revised(proposal_id, client["id"], 3, T0 + timedelta(hours=5)), "proposals"),
    )

    url = f"/clients/{client['id']}/timeline"

    async def last_ones_arrived() -> Any:
        items = (await contacts.api.get(url, headers=contacts.reader)).json()["items"]
        kinds = [e["kind"] for e in items]
        done = kinds.count("needs_identified") == 2 and kinds.count("proposal_revised") == 2
        return items if done else None

    items = await eventually(last_ones_arrived, what="the needs and revisions on the timeline")
    items = [e for e in items if e["source"] != "contacts"]  # the registration, people added
    assert [
        (e["kind"], e["refs"].get("participant_id") or e["refs"].get("revision")) for e in items
    ] == [
        ("participant_added", "pt-a"),
        ("participant_added", "pt-b"),
        ("proposal_revised", "2"),
        ("needs_identified", None),
        ("needs_identified", None),
        ("proposal_revised", "3"),
    ]
    assert items[0]["summary"] == f"Added to event {event_id} as guest (by portrait)"
    assert items[1]["refs"]["person_id"] == second["id"]
    assert items[2]["summary"] == "Proposal revised (revision 2): Solar roof, bigger roof"
    assert items[3]["summary"] == "Needs identified (questionnaire): SOLAR-1, storage"
    assert items[3]["refs"]["source_id"] == needs.source_id
    times = [datetime.fromisoformat(e["at"]) for e in items]  # as instants, not as text
    assert times == sorted(times)


async def test_a_proposals_status_moves_win_and_loss_join_the_timeline_once_each(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    won_id, lost_id = str(uuid.uuid4()), str(uuid.uuid4())
    employee = "emp-curator"
    zero = Money.zero("EUR")

    def moved(proposal_id: str, to: ProposalStatus, hours: int, version: int) -> Envelope:
        previous = (
            ProposalStatus.DRAFT if to is ProposalStatus.PRESENTED else ProposalStatus.PRESENTED
        )
        return _wrap(
            ProposalStatusChanged(
                proposal_id=proposal_id,
                client_id=client["id"],
                from_status=previous,
                to_status=to,
                changed_at=T0 + timedelta(hours=hours),
                version=version,
            ),
            "proposals",
        )

    presented = moved(won_id, ProposalStatus.PRESENTED, 1, 2)
    won = ProposalWon(
        proposal_id=won_id,
        revision=1,
        version=4,
        client_id=client["id"],
        curator_id=employee,
        title="Solar roof",
        currency="EUR",
        lines=(),
        totals=ProposalTotals(subtotal=zero, discount=zero, total=zero),
        won_at=T0 + timedelta(hours=3),
    )
    lost = ProposalLost(
        proposal_id=lost_id,
        revision=1,
        version=3,
        client_id=client["id"],
        curator_id=employee,
        reason="Budget moved to next year",
        lost_at=T0 + timedelta(hours=5),
    )
    # Each fact twice in one envelope and once more in a new one (a producer's replay).
    await _publish(contacts, presented, presented, moved(won_id, ProposalStatus.PRESENTED, 1, 2))
    await _publish(contacts, moved(won_id, ProposalStatus.NEGOTIATION, 2, 3))
    await _publish(contacts, moved(lost_id, ProposalStatus.PRESENTED, 4, 2))
    for fact in (won, lost):
        envelope = _wrap(fact, "proposals")
        await _publish(contacts, envelope, envelope, _wrap(fact, "proposals"))
    url = f"/clients/{client['id']}/timeline"

    async def both_closed() -> Any:
        items = (await contacts.api.get(url, headers=contacts.reader)).json()["items"]
        kinds = {e["kind"] for e in items}
        return items if {"proposal_won", "proposal_lost"} <= kinds else None

    items = await eventually(both_closed, what="the won and lost proposals on the timeline")
    items = [e for e in items if e["source"] == "proposals"]
    assert [(e["kind"], e["summary"], e["refs"]) for e in items] == [
        (
            "proposal_status_changed",
            "Proposal draft → presented",
            {"proposal_id": won_id, "version": "2"},
        ),
        (
            "proposal_status_changed",
            "Proposal presented → negotiation",
            {"proposal_id": won_id, "version": "3"},
        ),
        (
            "proposal_won",
            "Proposal won: Solar roof",
            {"proposal_id": won_id, "revision": "1", "version": "4"},
        ),
        (
            "proposal_status_changed",
            "Proposal draft → presented",
            {"proposal_id": lost_id, "version": "2"},
        ),
        (
            "proposal_lost",
            "Proposal lost: Budget moved to next year",
            {"proposal_id": lost_id, "revision": "1", "version": "3"},
        ),
    ]


async def test_lost_duplicate_marks_are_put_back_by_the_next_fact_about_the_client(
    contacts: Contacts,
) -> None:
    tax_id = str(uuid.uuid4().int)[:10]
    since = await contacts.offsets()
    first = await contacts.register(tax_id=tax_id, country="RU")
    second = await contacts.api.post(
        "/clients?insist=true",
        json={"name": f"Twin {tax_id}", "tax_id": tax_id, "country": "RU"},
        headers=contacts.writer,
    )
    assert second.status_code == 201, second.text
    pair_ids = sorted([first["id"], second.json()["id"]])
    [registered] = await contacts.events(since, first["id"], only=("ClientRegistered",))

    async def listed() -> list[list[str]]:
        response = await contacts.api.get(
            "/duplicates", params={"limit": 200}, headers=contacts.reader
        )
        return [p["client_ids"] for p in response.json()["items"] if p["client_ids"] == pair_ids]

    assert await listed() == [pair_ids]
    # What a crash right after each client's write would leave behind: no marks at all.
    await contacts.db["clients"].update_many({"_id": {"$in": pair_ids}}, {"$unset": {"shared": ""}})
    assert await listed() == []
    # The fact comes round again (a producer's replay, in a new envelope).
    await _publish(contacts, _wrap(registered.open_as(ClientRegistered), "contacts"))
    assert await eventually(listed, what="the pair marked again") == [pair_ids]


async def test_needs_without_a_client_land_on_the_client_their_source_is_about(
    contacts: Contacts,
) -> None:
    marker = uuid.uuid4().hex[:10]
    questionnaire = _questionnaire(
        Respondent(
            name="Pavel Orlov",
            organisation=f"Needs {marker}",
            channels=ChannelAddresses(email=f"pavel.{marker}@needs.example"),
        )
    )
    # An unknown respondent: campaigns knows no client, contacts registers one.
    from_questionnaire = NeedsIdentified(
        event_id=questionnaire.event_id,
        source=NeedsSource.QUESTIONNAIRE,
        source_id=questionnaire.response_id,
        item_codes=("SOLAR-1",),
        identified_at=T0,
    )
    await _publish(
        contacts, _wrap(questionnaire, "campaigns"), _wrap(from_questionnaire, "campaigns")
    )
    [client] = await eventually(
        lambda: _clients_from(contacts, questionnaire.response_id), what="the potential client"
    )

    known = await contacts.register()
    employee = await contacts.employee()
    recorded = await contacts.api.post(
        "/contacts",
        json={
            "client_id": known["id"],
            "employee_id": employee["id"],
            "kind": "meeting",
            "occurred_at": T0.isoformat(),
            "summary": "Talked at the stand",
        },
        headers=contacts.writer,
    )
    assert recorded.status_code == 201
    from_record = NeedsIdentified(
        event_id=questionnaire.event_id,
        source=NeedsSource.CONTACT_RECORD,
        source_id=recorded.json()["id"],
        tags=("storage",),
        identified_at=T0 + timedelta(hours=1),
    )
    await _publish(contacts, _wrap(from_record, "campaigns"))

    async def needs_of(client_id: str) -> Any:
        response = await contacts.api.get(f"/clients/{client_id}/timeline", headers=contacts.reader)
        return [e for e in response.json()["items"] if e["kind"] == "needs_identified"]

    [first] = await eventually(lambda: needs_of(client["_id"]), what="needs from the questionnaire")
    assert first["refs"]["source_id"] == questionnaire.response_id
    [second] = await eventually(lambda: needs_of(known["id"]), what="needs from the record")
    assert second["summary"] == "Needs identified (contact record): storage"


async def test_contacts_own_facts_about_a_client_join_its_timeline_once_each(
    contacts: Contacts,
) -> None:
    since = await contacts.offsets()
    client = await contacts.register(country="RU")
    person = await contacts.add_person(client["id"], position="Buyer")
    moved = await contacts.api.post(
        f"/clients/{client['id']}/status",
        json={"status": "active", "reason": "first order"},
        headers={**contacts.writer, "If-Match": '"2"'},  # the person added made version 2
    )
    assert moved.status_code == 200, moved.text
    curator = await contacts.employee()
    await contacts.curate(client["id"], curator["id"])
    twin = await contacts.register()
    merged = await contacts.api.post(
        f"/clients/{client['id']}/merge",
        json={"merged_client_id": twin["id"]},
        headers=contacts.admin,
    )
    assert merged.status_code == 200, merged.text
    url = f"/clients/{client['id']}/timeline"

    async def entries(count: int) -> Any:
        items = (await contacts.api.get(url, headers=contacts.reader)).json()["items"]
        return items if len(items) >= count else None

    items = await eventually(lambda: entries(6), what="contacts' facts on the timeline")
    assert [(e["kind"], e["source"]) for e in items] == [
        ("registered", "contacts"),
        ("person_added", "contacts"),
        ("status_changed", "contacts"),
        ("curator_assigned", "contacts"),
        ("registered", "contacts"),  # the merged client's, moved to the survivor
        ("merged", "contacts"),
    ]
    times = [datetime.fromisoformat(e["at"]) for e in items]  # as instants, not as text
    assert times == sorted(times)
    assert items[0]["summary"] == "Registered as potential (manual)"
    assert items[1]["summary"] == f"Person added: {person['name']}, Buyer"
    assert items[1]["refs"] == {"person_id": person["id"]}
    assert items[2]["summary"] == "Status potential → active: first order"
    assert items[3]["refs"]["curator_id"] == curator["id"]
    assert items[4]["summary"] == "Registered as potential (manual)"
    assert items[5]["refs"]["merged_client_id"] == twin["id"]
    assert items[5]["summary"].startswith(f"Client {twin['id']} merged into this one")

    # The registration again in a new envelope (a producer's replay), then a new fact on the
    # same key, so that the replay was handled once the new fact shows.
    [registered] = await contacts.events(since, client["id"], only=("ClientRegistered",))
    await _publish(contacts, _wrap(registered.open_as(ClientRegistered), "contacts"))
    current = await contacts.api.get(f"/clients/{client['id']}", headers=contacts.reader)
    again = await contacts.api.post(
        f"/clients/{client['id']}/status",
        json={"status": "former"},
        headers={**contacts.writer, "If-Match": current.headers["ETag"]},
    )
    assert again.status_code == 200, again.text
    items = await eventually(lambda: entries(7), what="the second status move")
    assert [e["kind"] for e in items].count("registered") == 2
    assert items[-1]["kind"] == "status_changed"


async def test_a_curators_clients_changes_since_a_time_read_in_one_list(
    contacts: Contacts,
) -> None:
    curator, other = await contacts.employee(), await contacts.employee()
    mine = [await contacts.register(), await contacts.register()]
    theirs = await contacts.register()
    for client in mine:
        await contacts.curate(client["id"], curator["id"])
    await contacts.curate(theirs["id"], other["id"])
    url = "/timeline"
    query = {"curator_id": curator["id"], "since": T0.isoformat()}

    async def changes(count: int) -> Any:
        page = await contacts.api.get(url, params=query, headers=contacts.reader)
        assert page.status_code == 200, page.text
        return page.json() if len(page.json()["items"]) >= count else None

    # Each curated client: registered, then the curator assigned.
    found = await eventually(lambda: changes(4), what="the curated clients' timelines")
    assert (found["clients"], found["clients_truncated"]) == (2, False)
    names = {c["id"]: c["name"] for c in mine}
    assert {e["client_id"] for e in found["items"]} == set(names)
    assert all(e["client_name"] == names[e["client_id"]] for e in found["items"])
    assert (
        sorted(e["kind"] for e in found["items"]) == ["curator_assigned"] * 2 + ["registered"] * 2
    )
    times = [datetime.fromisoformat(e["at"]) for e in found["items"]]
    assert times == sorted(times)

    # After the last of them: nothing; one at a time: the same four, in the same order.
    later = {**query, "since": found["items"][-1]["at"]}
    after = await contacts.api.get(url, params=later, headers=contacts.reader)
    assert after.json()["items"] == []
    oldest_first = [e["id"] for e in found["items"]]
    for order, expected in (("oldest", oldest_first), ("newest", oldest_first[::-1])):
        ids, cursor = [], None
        while True:
            paged = {**query, "order": order, "limit": 1, **({"cursor": cursor} if cursor else {})}
            page = (await contacts.api.get(url, params=paged, headers=contacts.reader)).json()
            ids += [e["id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert ids == expected, order


async def test_a_curated_timeline_needs_a_time_with_its_zone(contacts: Contacts) -> None:
    refused = await contacts.api.get(
        "/timeline",
        params={"curator_id": "emp-1", "since": "2026-12-01T10:00:00"},
        headers=contacts.reader,
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "since" in refused.text


async def test_the_client_timeline_shows_who_made_each_change(contacts: Contacts) -> None:
    seller = bearer(
        contacts.keys,
        "contacts:read",
        "contacts:write",
        subject="crm-console",
        roles=("sales",),
        employee_id="emp-ivan",
    )
    registered = await contacts.api.post(
        "/clients", json={"name": f"Timeline {uuid.uuid4().hex[:8]}"}, headers=seller
    )
    assert registered.status_code == 201, registered.text
    client_id = registered.json()["id"]

    async def timeline() -> Any:
        response = await contacts.api.get(f"/clients/{client_id}/timeline", headers=contacts.reader)
        return response.json()["items"] or None

    items = await eventually(timeline, what="the registration on the timeline")
    assert [(e["kind"], e["actor"]) for e in items] == [
        ("registered", {"app": "crm-console", "employee_id": "emp-ivan"})
    ]


async def test_a_won_deal_makes_a_potential_client_active_once_and_leaves_a_partner_be(
    contacts: Contacts,
) -> None:
    prospect = await contacts.register()
    partner = await contacts.register()
    await contacts.move(partner["id"], "partner")
    assert prospect["status"] == "potential"
    since = await contacts.offsets()
    zero = Money.zero("RUB")

    def won(client_id: str) -> Envelope:
        return _wrap(
            ProposalWon(
                proposal_id=str(uuid.uuid4()),
                revision=1,
                version=5,
                client_id=client_id,
                curator_id="emp-curator",
                title="Pumps",
                currency="RUB",
                lines=(),
                totals=ProposalTotals(subtotal=zero, discount=zero, total=zero),
                won_at=T0,
            ),
            "proposals",
        )

    deal = won(prospect["id"])
    # Delivered twice in one envelope and once more in a new one: one status change in all.
    await _publish(contacts, deal, deal, won(prospect["id"]), won(partner["id"]))

    async def active() -> Any:
        got = await contacts.api.get(f"/clients/{prospect['id']}", headers=contacts.reader)
        return got.json() if got.json()["status"] == "active" else None

    became = await eventually(active, what="the prospect made active by the won deal")
    assert became["version"] == 2
    [moved] = await contacts.events(since, prospect["id"], only=("ClientStatusChanged",))
    change = moved.open_as(ClientStatusChanged)
    assert (change.from_status, change.to_status) == ("potential", "active")
    assert change.reason is not None
    assert change.reason.startswith("won proposal ")
    assert moved.actor is None  # no caller made it: the won deal did
    unchanged = await contacts.api.get(f"/clients/{partner['id']}", headers=contacts.reader)
    assert (unchanged.json()["status"], unchanged.json()["version"]) == ("partner", 2)


async def test_the_back_offices_answers_join_the_timeline_and_a_signed_contract_reactivates(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    for status, version in (("active", 1), ("former", 2)):
        moved = await contacts.api.post(
            f"/clients/{client['id']}/status",
            json={"status": status},
            headers={**contacts.writer, "If-Match": f'"{version}"'},
        )
        assert moved.status_code == 200, moved.text
    said = {"proposal_id": str(uuid.uuid4()), "client_id": client["id"], "system": "erp"}
    signed = ContractSigned(
        **said,
        document_number="C-1",
        signed_at=T0,
        amount=Money(amount_minor=1_250_000_00, currency="RUB"),
    )
    paid = PaymentReceived(
        **said,
        document_number="P-1",
        amount=Money(amount_minor=625_000_00, currency="RUB"),
        paid_at=T0 + timedelta(days=3),
    )
    order = OrderPlaced(**said, document_number="O-1", placed_at=T0 + timedelta(days=1))
    refused = DealRefused(
        **said, document_number="C-1", reason="Stock", refused_at=T0 + timedelta(days=4)
    )
    wrapped = [_wrap(e, "erp") for e in (signed, order, paid, refused)]
    # one redelivered, one published again in a new envelope: one entry each all the same
    await _publish(contacts, *wrapped, wrapped[0], _wrap(paid, "erp"))

    async def timeline() -> Any:
        response = await contacts.api.get(
            f"/clients/{client['id']}/timeline", headers=contacts.reader
        )
        items = [e for e in response.json()["items"] if e["source"] == "backoffice"]
        return items if len(items) >= 4 else None

    items = await eventually(timeline, what="the back office's answers on the timeline")
    assert [(e["kind"], e["summary"]) for e in items] == [
        ("contract_signed", "Contract signed for 1 250 000.00 RUB (erp C-1)"),
        ("order_placed", "Order placed (erp O-1)"),
        ("payment_received", "Paid 625 000.00 RUB (erp P-1)"),
        ("deal_refused", "Deal refused: Stock (erp C-1)"),
    ]
    assert items[0]["refs"] == {
        "proposal_id": said["proposal_id"],
        "system": "erp",
        "document_number": "C-1",
    }
    card = await contacts.api.get(f"/clients/{client['id']}", headers=contacts.reader)
    # former → active once, by the contract (the payment found it active already)
    assert (card.json()["status"], card.json()["version"]) == ("active", 4)


async def test_an_unsubscribe_withdraws_that_channels_consent_once_and_joins_the_timeline(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    person = await contacts.add_person(
        client["id"],
        channels={"email": "unsub@example.com", "mobile": "+79160000011"},
        preferred_channel="email",
        consents=["email", "mobile"],
    )
    since = await contacts.offsets()

    def unsubscribed() -> Envelope:
        return _wrap(
            UnsubscribeRequested(
                client_id=client["id"],
                person_id=person["id"],
                channel=Channel.EMAIL,
                requested_at=T0,
                notification_id="ntf-unsub-1",
            ),
            "notify",
        )

    request = unsubscribed()
    # Delivered twice in one envelope and once more in a new one: one consent change in all.
    await _publish(contacts, request, request, unsubscribed())
    url = f"/clients/{client['id']}/people/{person['id']}"

    async def withdrawn() -> Any:
        got = (await contacts.api.get(url, headers=contacts.reader)).json()
        email = next(c for c in got["consents"] if c["channel"] == "email")
        return got if email["granted"] is False else None

    seen = await eventually(withdrawn, what="the e-mail consent withdrawn")
    consents = {c["channel"]: (c["granted"], c["source"]) for c in seen["consents"]}
    assert consents == {"email": (False, "unsubscribe_link"), "mobile": (True, "api")}
    assert seen["preferred_channel"] is None  # never the preference of a refused channel
    changes = await contacts.events(since, client["id"], only=("ConsentChanged",))
    assert len(changes) == 1
    change = changes[0].open_as(ConsentChanged)
    assert (change.person_id, change.channel, change.granted, change.source) == (
        person["id"],
        Channel.EMAIL,
        False,
        "unsubscribe_link",
    )

    async def on_timeline() -> Any:
        response = await contacts.api.get(
            f"/clients/{client['id']}/timeline", headers=contacts.reader
        )
        kinds = [e["kind"] for e in response.json()["items"]]
        return kinds if "unsubscribed" in kinds else None

    kinds = await eventually(on_timeline, what="the unsubscription on the timeline")
    assert kinds.count("unsubscribed") == 2  # one entry per request made


async def test_an_unsubscribe_for_a_person_contacts_does_not_know_changes_nothing(
    contacts: Contacts,
) -> None:
    client = await contacts.register()
    await _publish(
        contacts,
        _wrap(
            UnsubscribeRequested(
                client_id=client["id"],
                person_id="no-such-person",
                channel=Channel.EMAIL,
                requested_at=T0,
            ),
            "notify",
        ),
    )

    async def handled() -> Any:
        response = await contacts.api.get(
            f"/clients/{client['id']}/timeline", headers=contacts.reader
        )
        return response.json()["items"] if len(response.json()["items"]) > 1 else None

    await eventually(handled, what="the unsubscription handled")
    stored = await contacts.stored_client(client["id"])
    assert stored["version"] == client["version"]  # no change saved, so no ConsentChanged
