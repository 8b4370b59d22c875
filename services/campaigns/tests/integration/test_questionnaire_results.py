"""An event's questionnaire results per question, from electronic and paper responses, and
what a person's erasure leaves of their answers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from crm_contracts.contacts import PersonErased
from crm_kit.testing import StackEndpoints, bearer, eventually

from .bus import publish
from .conftest import Campaigns
from .test_paper_questionnaires import event_with_questionnaire
from .test_plan_schedule import schedule


async def results(c: Campaigns, eid: str, **params: Any) -> dict[str, Any]:
    got = await c.http.get(f"/events/{eid}/questionnaire/results", params=params, headers=c.read())
    assert got.status_code == 200, got.text
    found: dict[str, Any] = got.json()
    return found


def question(report: dict[str, Any], question_id: str) -> dict[str, Any]:
    return next(q for q in report["questions"] if q["question_id"] == question_id)


async def anonymous_link(c: Campaigns, eid: str) -> str:
    q = await c.http.get(f"/events/{eid}/questionnaire", headers=c.read())
    link: str = q.json()["anonymous_link"]
    return link


async def answer_online(c: Campaigns, link: str, **fields: Any) -> None:
    sent = await c.http.post(link, data=fields)
    assert "Thank you" in sent.text, sent.text


async def test_results_count_each_question_from_electronic_and_paper_responses(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, (pid,) = await event_with_questionnaire(c, people=1)
    link = await anonymous_link(c, eid)
    await answer_online(
        c, link, q_format="Webinar", q_interest=["PUMP-1", "VALVE-2"], q_rating="4",
        q_remarks='=HYPERLINK("http://x.example")',
    )  # fmt: skip
    await answer_online(c, link, q_format="Seminar", q_rating="5", q_remarks="More of it")
    keyed = await c.http.post(
        f"/events/{eid}/questionnaire/responses",
        json={"participant_id": pid, "answers": [
            {"question_id": "format", "choices": ["Seminar"]},
            {"question_id": "interest", "choices": ["VALVE-2"]},
            {"question_id": "rating", "scale": 2},
        ]},
        headers=c.write(),
    )  # fmt: skip
    assert keyed.status_code == 201, keyed.text
    # A response stored before answers were kept: counted, not guessed.
    await c.runtime.db["questionnaire_responses"].insert_one(
        {"_id": str(uuid.uuid4()), "event_id": eid, "participant_id": None, "channel": "paper",
         "codes": ["PUMP-1"], "submitted_at": datetime.now(UTC)}
    )  # fmt: skip

    report = await results(c, eid)

    assert (report["responses"], report["without_answers"]) == (4, 1)
    assert report["by_channel"] == {"electronic": 2, "paper": 2}
    assert [q["question_id"] for q in report["questions"]] == [
        "format", "interest", "rating", "remarks"
    ]  # fmt: skip
    fmt = question(report, "format")
    assert fmt["answered"] == 3
    assert [(o["option"], o["count"]) for o in fmt["options"]] == [("Seminar", 2), ("Webinar", 1)]
    interest = question(report, "interest")
    assert interest["answered"] == 2
    assert [(o["option"], o["count"]) for o in interest["options"]] == [
        ("PUMP-1", 1), ("VALVE-2", 2)
    ]  # fmt: skip
    rating = question(report, "rating")
    assert [(s["value"], s["count"]) for s in rating["scale"]] == [
        (1, 0), (2, 1), (3, 0), (4, 1), (5, 1)
    ]  # fmt: skip
    assert (rating["answered"], rating["mean"]) == (3, 3.67)
    remarks = question(report, "remarks")
    assert remarks["answered"] == 2
    assert [t["text"] for t in remarks["texts"]["items"]] == [
        "More of it", '=HYPERLINK("http://x.example")'
    ]  # fmt: skip
    assert remarks["texts"]["next_cursor"] is None


async def test_free_texts_are_paged_newest_first(campaigns: Campaigns) -> None:
    c = campaigns
    eid, _ = await event_with_questionnaire(c)
    link = await anonymous_link(c, eid)
    for text in ("first", "second", "third"):
        await answer_online(c, link, q_format="Seminar", q_remarks=text)

    first = question(await results(c, eid, limit=2), "remarks")["texts"]
    assert [t["text"] for t in first["items"]] == ["third", "second"]
    rest = await c.http.get(
        f"/events/{eid}/questionnaire/results/remarks/texts",
        params={"limit": 2, "cursor": first["next_cursor"]},
        headers=c.read(),
    )
    assert rest.status_code == 200, rest.text
    assert [t["text"] for t in rest.json()["items"]] == ["first"]
    assert rest.json()["next_cursor"] is None


async def test_the_results_as_csv_keep_a_formula_typed_by_a_respondent_as_text(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    eid, _ = await event_with_questionnaire(c)
    await answer_online(
        c, await anonymous_link(c, eid), q_format="Webinar", q_remarks="=1+2", q_rating="3"
    )

    got = await c.http.get(
        f"/events/{eid}/questionnaire/results", params={"format": "csv"}, headers=c.read()
    )

    assert got.status_code == 200
    assert got.headers["content-type"].startswith("text/csv")
    lines = got.text.splitlines()
    assert lines[0] == "question_id,question,kind,answer,count,channel,submitted_at"
    assert "format,Which format suits you?,single_choice,Webinar,1,," in lines
    assert "rating,How was it?,scale,mean,3.0,," in lines
    assert any(
        line.startswith("remarks,Anything else?,free_text,'=1+2,,electronic,") for line in lines
    )


async def test_an_unknown_event_a_missing_questionnaire_or_question_is_a_problem(
    campaigns: Campaigns,
) -> None:
    c = campaigns
    unknown = await c.http.get("/events/no-such-event/questionnaire/results", headers=c.read())
    assert unknown.status_code == 404
    assert unknown.headers["content-type"].startswith("application/problem+json")
    eid, _ = await event_with_questionnaire(c)
    bare = (await schedule(c))["id"]
    none = await c.http.get(f"/events/{bare}/questionnaire/results", headers=c.read())
    assert none.status_code == 404
    assert "no questionnaire" in none.json()["detail"]
    not_text = await c.http.get(
        f"/events/{eid}/questionnaire/results/rating/texts", headers=c.read()
    )
    assert not_text.status_code == 404
    assert not_text.headers["content-type"].startswith("application/problem+json")


async def erased(stack: StackEndpoints, person_id: str, *subjects: str) -> None:
    await publish(
        stack,
        PersonErased(
            client_id=str(uuid.uuid4()),
            person_id=person_id,
            erased_at=datetime.now(UTC),
            subjects=(f"person:{person_id}", *subjects),
        ),
    )


async def remarks_once_settled(c: Campaigns, eid: str, gone: str) -> dict[str, Any]:
    async def without_it() -> dict[str, Any] | None:
        remarks = question(await results(c, eid), "remarks")
        texts = [t["text"] for t in remarks["texts"]["items"]]
        # The counts are read before the texts: both say so once the erasure is through.
        return remarks if gone not in texts and remarks["erased"] else None

    found: dict[str, Any] = await eventually(without_it, what=f"{gone!r} erased")
    return found


async def test_a_participants_erasure_removes_their_free_text_and_their_export_held_it(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    eid, (pid,) = await event_with_questionnaire(c, people=1)
    person_id = (await c.http.get(f"/events/{eid}/participants/{pid}", headers=c.read())).json()[
        "person_id"
    ]
    own = await c.http.get(f"/events/{eid}/participants/{pid}/questionnaire-link", headers=c.read())
    await answer_online(
        c, own.json()["path"], q_format="Seminar", q_rating="2", q_remarks="Call me at home"
    )
    await answer_online(c, await anonymous_link(c, eid), q_format="Webinar", q_remarks="Keep")
    officer = bearer(c.keys, "campaigns:admin", roles=("data-protection",))
    export = await c.http.get(f"/people/{person_id}/personal-data", headers=officer)
    assert export.status_code == 200, export.text
    (held,) = export.json()["records"]["questionnaire_responses"]
    assert {"question_id": "remarks", "text": "Call me at home"} in held["answers"]

    await erased(stack, person_id)

    remarks = await remarks_once_settled(c, eid, "Call me at home")
    assert [t["text"] for t in remarks["texts"]["items"]] == ["Keep"]
    assert (remarks["answered"], remarks["erased"]) == (2, 1)
    assert question(await results(c, eid), "rating")["answered"] == 1
    again = await c.http.get(f"/people/{person_id}/personal-data", headers=officer)
    (held,) = again.json()["records"]["questionnaire_responses"]
    assert {"question_id": "remarks", "erased": True} in held["answers"]


async def test_erasing_a_respondent_contacts_registered_from_a_response_removes_its_text(
    stack: StackEndpoints, campaigns: Campaigns
) -> None:
    c = campaigns
    eid, _ = await event_with_questionnaire(c)
    link = await anonymous_link(c, eid)
    await answer_online(c, link, q_format="Seminar", q_remarks="I am Ivan, write to me")
    await answer_online(c, link, q_format="Seminar", q_remarks="Keep")
    texts = question(await results(c, eid), "remarks")["texts"]["items"]
    ivans = next(t["response_id"] for t in texts if t["text"].startswith("I am Ivan"))

    # Contacts names the response the person came from among the erased keys' subjects.
    await erased(stack, str(uuid.uuid4()), f"response:{ivans}")

    remarks = await remarks_once_settled(c, eid, "I am Ivan, write to me")
    assert [t["text"] for t in remarks["texts"]["items"]] == ["Keep"]
    assert remarks["erased"] == 1
