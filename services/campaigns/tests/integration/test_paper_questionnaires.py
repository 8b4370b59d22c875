"""Paper questionnaires keyed in through the API, one at a time or as a CSV import with a
result per row: the same QuestionnaireSubmitted and NeedsIdentified as the public page."""

from __future__ import annotations

from typing import Any

from crm_contracts.campaigns import NeedsIdentified, QuestionnaireSubmitted
from crm_kit.testing import StackEndpoints

from .bus import our_facts
from .conftest import TEST_READ, Campaigns, topic_end
from .test_invitations import seed_people
from .test_plan_schedule import schedule

QUESTIONS = [
    {"question_id": "format", "text": "Which format suits you?", "kind": "single_choice",
     "options": ["Seminar", "Webinar"], "required": True},
    {"question_id": "interest", "text": "What interests you?", "kind": "product_interest",
     "options": ["PUMP-1", "VALVE-2"]},
    {"question_id": "rating", "text": "How was it?", "kind": "scale"},
    {"question_id": "remarks", "text": "Anything else?", "kind": "free_text"},
]  # fmt: skip


async def event_with_questionnaire(c: Campaigns, people: int = 0) -> tuple[str, list[str]]:
    """An event with a questionnaire and ``people`` participants added by hand."""
    event = await schedule(c)
    eid = event["id"]
    defined = await c.http.put(
        f"/events/{eid}/questionnaire",
        json={"title": "Paper form", "questions": QUESTIONS},
        headers=c.write(0),
    )
    assert defined.status_code == 200, defined.text
    participant_ids: list[str] = []
    if people:
        tag = f"paper{eid[:8]}"
        await seed_people(c, people, tag)
        added = await c.http.post(
            f"/events/{eid}/participants",
            json={"people": [{"person_id": f"{tag}-p{i}"} for i in range(people)]},
            headers=c.write(),
        )
        assert added.status_code == 201, added.text
        participant_ids = [p["id"] for p in added.json()["items"]]
    return eid, participant_ids


def submitted_and_needs(
    envelopes: list[Any],
) -> tuple[list[QuestionnaireSubmitted], list[NeedsIdentified]]:
    return (
        [
            e.open_as(QuestionnaireSubmitted)
            for e in envelopes
            if e.event_type == "QuestionnaireSubmitted"
        ],
        [e.open_as(NeedsIdentified) for e in envelopes if e.event_type == "NeedsIdentified"],
    )


async def test_every_answer_that_does_not_fit_is_refused_at_its_body_path(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, _ = await event_with_questionnaire(c)
    bad = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={"answers": [{"question_id": "rating", "scale": 9},
                          {"question_id": "format", "choices": ["Seminar"]},
                          {"question_id": "interest", "choices": ["NO-SUCH"]},
                          {"question_id": "nothing-like-it", "text": "?"}]},
        headers=c.write(),
    )  # fmt: skip
    assert bad.status_code == 422, bad.text
    problem = bad.json()
    assert problem["type"] == "https://crm.example/problems/invalid-input"
    assert [(e["field"], e["type"]) for e in problem["errors"]] == [
        ("body.answers[0].scale", "invalid-questionnaire"),
        ("body.answers[2].choices", "invalid-questionnaire"),
        ("body.answers[3].question_id", "invalid-questionnaire"),
    ]


async def test_a_paper_questionnaire_keyed_in_through_the_api(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    eid, (pid,) = await event_with_questionnaire(c, people=1)
    since = await topic_end(c, stack)
    keyed = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={
            "participant_id": pid,
            "answers": [
                {"question_id": "format", "choices": ["Seminar"]},
                {"question_id": "interest", "choices": ["VALVE-2"]},
                {"question_id": "rating", "scale": 5},
            ],
        },
        headers=c.write(),
    )
    assert keyed.status_code == 201, keyed.text
    assert keyed.json()["channel"] == "paper"
    assert keyed.json()["product_interest_codes"] == ["VALVE-2"]
    again = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={
            "participant_id": pid,
            "answers": [{"question_id": "format", "choices": ["Seminar"]}],
        },
        headers=c.write(),
    )
    assert again.status_code == 409
    bad = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={"answers": [{"question_id": "format", "choices": ["Seminar"]},
                          {"question_id": "rating", "scale": 9}]},
        headers=c.write(),
    )  # fmt: skip
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.answers[1].scale"

    envelopes = await our_facts(
        stack, since, eid, until=lambda es: any(e.event_type == "NeedsIdentified" for e in es)
    )
    (submitted,), (needs,) = submitted_and_needs(envelopes)
    assert submitted.channel.value == "paper"
    assert submitted.participant_id == pid
    assert submitted.respondent.person_id is not None
    assert submitted.product_interest_codes == ("VALVE-2",)
    assert needs.item_codes == ("VALVE-2",)
    assert needs.source_id == submitted.response_id
    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert figures["questionnaire_responses"] == 1


async def test_a_csv_of_paper_questionnaires_answers_row_by_row(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    eid, (first, second) = await event_with_questionnaire(c, people=2)
    since = await topic_end(c, stack)
    rows = [
        "participant_id,name,organisation,email,consented_channels,format,interest,rating,remarks",
        f"{first},,,,,Webinar,PUMP-1;VALVE-2,4,Call me",  # 2: created
        ',Olga Petrova,Vodokanal,olga@x.example,email,Seminar,PUMP-1,,"Yes, please"',  # 3
        ",Ivan,,,,Seminar,HAMMER-9,,",  # 4: not an option
        ",Anna,,,,Webinar,,7,",  # 5: scale out of range
        f"{first},,,,,Seminar,,,",  # 6: the first participant again
        "no-such-participant,,,,,Seminar,,,",  # 7: unknown participant
        ",,,,,,,3,",  # 8: the required question unanswered
        "",  # a blank line is skipped
        ",Pavel,,,fax;pigeon,Seminar,,,",  # 10: no such channel as a pigeon
        f"{second},,,,,Seminar,,2,",  # 11: created
    ]
    imported = await c.http.post(
        f"/events/{eid}/questionnaire/responses/import",
        content="\n".join(rows).encode(),
        headers={**c.write(), "Content-Type": "text/csv"},
    )
    assert imported.status_code == 200, imported.text
    body = imported.json()
    results = {r["row"]: r for r in body["rows"]}
    assert (body["created"], body["failed"]) == (3, 6)
    assert sorted(results) == [2, 3, 4, 5, 6, 7, 8, 10, 11]
    assert {n for n, r in results.items() if r["status"] == "created"} == {2, 3, 11}
    assert all(results[n]["response_id"] for n in (2, 3, 11))
    errors = {n: [e["field"] for e in r["errors"]] for n, r in results.items() if r["errors"]}
    assert errors == {
        4: ["interest"],
        5: ["rating"],
        6: ["participant_id"],
        7: ["participant_id"],
        8: ["answers"],
        10: ["consented_channels"],
    }
    assert all(results[n]["response_id"] is None for n in errors)

    envelopes = await our_facts(
        stack,
        since,
        eid,
        until=lambda es: sum(e.event_type == "QuestionnaireSubmitted" for e in es) >= 3,
    )
    submitted, needs = submitted_and_needs(envelopes)
    by_response = {s.response_id: s for s in submitted}
    assert set(by_response) == {results[n]["response_id"] for n in (2, 3, 11)}
    assert {s.channel.value for s in submitted} == {"paper"}
    row2 = by_response[results[2]["response_id"]]
    assert row2.participant_id == first
    assert row2.product_interest_codes == ("PUMP-1", "VALVE-2")
    answers = {a.question_id: a for a in row2.answers}
    assert answers["rating"].scale == 4
    assert answers["remarks"].text == "Call me"
    row3 = by_response[results[3]["response_id"]]
    assert row3.participant_id is None
    assert row3.respondent.name == "Olga Petrova"
    assert row3.respondent.organisation == "Vodokanal"
    assert row3.respondent.channels.email == "olga@x.example"
    assert [ch.value for ch in row3.respondent.consented_channels] == ["email"]
    assert {a.question_id: a.text for a in row3.answers}["remarks"] == "Yes, please"
    assert sorted((n.source_id, n.item_codes) for n in needs) == sorted(
        [
            (results[2]["response_id"], ("PUMP-1", "VALVE-2")),
            (results[3]["response_id"], ("PUMP-1",)),
        ]
    )
    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert figures["questionnaire_responses"] == 3


async def test_a_csv_with_an_unknown_column_is_refused_whole(campaigns: Campaigns) -> None:
    c = campaigns
    eid, _ = await event_with_questionnaire(c)
    refused = await c.http.post(
        f"/events/{eid}/questionnaire/responses/import",
        content=b"name,format,shoe_size\nIvan,Seminar,44\n",
        headers={**c.write(), "Content-Type": "text/csv"},
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    (error,) = refused.json()["errors"]
    assert error["field"] == "body"
    assert "shoe_size" in error["message"]
    not_utf8 = await c.http.post(
        f"/events/{eid}/questionnaire/responses/import",
        content="name,format\nÖzil,Seminar\n".encode("latin-1"),
        headers={**c.write(), "Content-Type": "text/csv"},
    )
    assert not_utf8.status_code == 422
    assert await c.runtime.db["questionnaire_responses"].count_documents({}, comment=TEST_READ) == 0
    figures = (await c.http.get(f"/events/{eid}/effectiveness", headers=c.read())).json()
    assert figures["questionnaire_responses"] == 0


async def test_a_question_id_with_a_slash_is_refused_at_its_body_path(
    campaigns: Campaigns,
) -> None:
    """A question's id names it in the path of its texts; a '/' would split that path."""
    c = campaigns
    event = await schedule(c)
    refused = await c.http.put(
        f"/events/{event['id']}/questionnaire",
        json={"title": "Paper form", "questions": [
            QUESTIONS[3], {**QUESTIONS[3], "question_id": "remarks/more"},
        ]},
        headers=c.write(0),
    )  # fmt: skip
    assert refused.status_code == 422, refused.text
    (error,) = refused.json()["errors"]
    assert error["field"] == "body.questions[1].question_id"
    assert "'/'" in error["message"]
    missing = await c.http.get(f"/events/{event['id']}/questionnaire", headers=c.read())
    assert missing.status_code == 404  # nothing was defined
