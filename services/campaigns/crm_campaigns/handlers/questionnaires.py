"""Questionnaires: the definition per event and responses, electronic or from paper.

A participant answers once (the response id is derived from the participant); the anonymous
per-event link takes a bounded number of answers (a few per seat). A response is one insert
with its QuestionnaireSubmitted (and NeedsIdentified for product interests); then the counters, the
needs for the report and the inferred attendance follow, each idempotent on its own.
"""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from crm_contracts.campaign_parts import Answer, Respondent
from crm_contracts.campaigns import CampaignsEvent, NeedsIdentified, QuestionnaireSubmitted
from crm_contracts.common import ChannelAddresses
from crm_contracts.values import Channel, NeedsSource, QuestionKind, ResponseChannel
from crm_kit.clock import utc_now
from crm_kit.problems import Conflict, FieldError, InvalidInput, VersionConflict
from crm_kit.refusals import Refused, refusals_of
from crm_kit.runtime import Runtime
from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError

from crm_campaigns import projections
from crm_campaigns.domain.errors import (
    AlreadyResponded,
    CampaignsError,
    InvalidQuestionnaire,
    NoQuestionnaire,
    QuestionnaireFull,
)
from crm_campaigns.domain.questionnaires import (
    GivenAnswer,
    Question,
    Questionnaire,
    anonymous_answers_bound,
    check_response,
)
from crm_campaigns.handlers import participants
from crm_campaigns.links import LinkPurpose
from crm_campaigns.repository import QUESTIONNAIRES, RESPONSES
from crm_campaigns.repository.documents import questionnaire_doc, questionnaire_of
from crm_campaigns.repository.needs import Needs
from crm_campaigns.repository.participants import Counters, ParticipantRepository
from crm_campaigns.repository.planning import EventRepository
from crm_campaigns.repository.responses import answers_doc
from crm_campaigns.repository.throttle import AnonymousQuotas
from crm_campaigns.schemas.questionnaires import AnswerBody, QuestionnaireBody, RespondentBody
from crm_campaigns.settings import settings_of

LINK_TTL = timedelta(days=365)


async def get_questionnaire(runtime: Runtime, event_id: str) -> Questionnaire:
    doc = await runtime.db[QUESTIONNAIRES].find_one({"_id": event_id})
    if doc is None:
        raise NoQuestionnaire(f"event {event_id} has no questionnaire yet")
    return questionnaire_of(doc)


async def define_questionnaire(
    runtime: Runtime, event_id: str, body: QuestionnaireBody, *, expected_version: int
) -> Questionnaire:
    await EventRepository(runtime).get(event_id)
    q = Questionnaire(
        event_id=event_id,
        title=body.title,
        questions=tuple(
            Question(x.question_id, x.text, x.kind, tuple(x.options), x.required)
            for x in body.questions
        ),
    )
    collection = runtime.db[QUESTIONNAIRES]
    if expected_version == 0:
        try:
            await collection.insert_one({"_id": event_id, **questionnaire_doc(q), "version": 1})
        except DuplicateKeyError as exc:
            raise VersionConflict(f"event {event_id} already has a questionnaire") from exc
        version = 1
    else:
        done = await collection.update_one(
            {"_id": event_id, "version": expected_version},
            {"$set": questionnaire_doc(q), "$inc": {"version": 1}},
        )
        if done.modified_count != 1:
            raise VersionConflict(f"the questionnaire is not at version {expected_version}")
        version = expected_version + 1
    return Questionnaire(event_id, q.title, q.questions, version)


def link(runtime: Runtime, event_id: str, participant_id: str | None) -> str:
    token = participants.signer(runtime).sign(
        LinkPurpose.QUESTIONNAIRE,
        event_id=event_id,
        participant_id=participant_id,
        now=utc_now(),
        ttl=LINK_TTL,
    )
    return f"/q/{token}"


async def submit(
    runtime: Runtime,
    event_id: str,
    *,
    participant_id: str | None,
    respondent: RespondentBody,
    answers: list[AnswerBody],
    channel: ResponseChannel,
) -> tuple[str, tuple[str, ...], datetime]:
    event = await EventRepository(runtime).get(event_id)
    questionnaire = await get_questionnaire(runtime, event_id)
    checked = check_response(
        questionnaire,
        tuple(GivenAnswer(a.question_id, tuple(a.choices), a.scale, a.text) for a in answers),
    )
    person_id = client_id = None
    name = respondent.name
    if participant_id is not None:
        p = await ParticipantRepository(runtime).get(event_id, participant_id)
        person_id, client_id, name = p.person_id, p.client_id, p.name or name
        response_id = f"{event_id}:{participant_id}"
    else:
        response_id = str(uuid.uuid4())
        if channel == ResponseChannel.ELECTRONIC:
            await _take_anonymous_answer(runtime, event_id, event.capacity)
    now = utc_now()
    facts: list[CampaignsEvent] = [
        QuestionnaireSubmitted(
            event_id=event_id,
            response_id=response_id,
            questionnaire_id=event_id,
            participant_id=participant_id,
            respondent=Respondent(
                person_id=person_id,
                client_id=client_id,
                name=name,
                organisation=respondent.organisation,
                position=respondent.position,
                channels=ChannelAddresses(
                    email=respondent.email.strip().lower() if respondent.email else None,
                    phone=respondent.phone,
                ),
                consented_channels=tuple(Channel(c) for c in respondent.consented_channels),
            ),
            answers=tuple(
                Answer(
                    question_id=q.question_id,
                    question=q.text,
                    kind=QuestionKind(q.kind.value),
                    choices=given.choices if q.kind.value != "product_interest" else (),
                    scale=given.scale,
                    text=given.text,
                    item_codes=given.choices if q.kind.value == "product_interest" else (),
                )
                for q, given in checked.answers
            ),
            product_interest_codes=checked.product_interest_codes,
            channel=channel,
            submitted_at=now,
        )
    ]
    if checked.product_interest_codes:
        facts.append(
            NeedsIdentified(
                event_id=event_id,
                client_id=client_id,
                person_id=person_id,
                programme_id=event.programme_id,
                source=NeedsSource.QUESTIONNAIRE,
                source_id=response_id,
                item_codes=checked.product_interest_codes,
                identified_at=now,
            )
        )
    try:
        await runtime.outbox(RESPONSES, "questionnaire response").insert(
            {
                "_id": response_id,
                "event_id": event_id,
                "participant_id": participant_id,
                # Whose answers these are, for their erasure and export (see repository.personal).
                **({"person_id": person_id} if person_id else {}),
                "channel": channel.value,
                "codes": list(checked.product_interest_codes),
                "answers": answers_doc(given for _, given in checked.answers),
                "submitted_at": now,
            },
            facts,
        )
    except Conflict as exc:
        raise AlreadyResponded(
            f"participant {participant_id} already answered the questionnaire",
            field="participant_id",
        ) from exc
    await Counters(runtime).add(event_id, {"questionnaires": 1})
    client = await projections.get_client(runtime.db, client_id) if client_id else None
    await Needs(runtime).record(
        source=NeedsSource.QUESTIONNAIRE.value,
        source_id=response_id,
        item_codes=checked.product_interest_codes,
        event_id=event_id,
        programme_id=event.programme_id,
        client_id=client_id,
        person_id=person_id,
        field_of_activity=(client or {}).get("field_of_activity"),
        at=now,
    )
    if person_id is not None:
        await participants.attendance_inferred(runtime, event_id, person_id, "questionnaire")
    return response_id, checked.product_interest_codes, now


async def _take_anonymous_answer(runtime: Runtime, event_id: str, capacity: int | None) -> None:
    """The anonymous link is public once printed or shown at the venue: it takes a bounded
    number of answers (paper keyed in by staff is not counted)."""
    settings = settings_of(runtime)
    bound = anonymous_answers_bound(
        capacity,
        per_seat=settings.anonymous_responses_per_seat,
        most=settings.anonymous_responses_max,
    )
    if not await AnonymousQuotas(runtime).take(event_id, bound):
        raise QuestionnaireFull(f"the questionnaire's public link took its {bound} answers")


async def response_exists(runtime: Runtime, event_id: str, participant_id: str) -> bool:
    found = await runtime.db[RESPONSES].find_one(
        {"_id": f"{event_id}:{participant_id}"}, {"_id": 1}
    )
    return found is not None


# -- paper questionnaires from CSV --------------------------------------------------------------
RESPONDENT_COLUMNS = (
    "participant_id",
    "name",
    "organisation",
    "position",
    "email",
    "phone",
    "consented_channels",
)
"""Besides these, one column per question, named by its question id. Choices (and product
interests, and consented channels) are separated by ``;``; a scale is a number from 1 to 5."""
MAX_IMPORT_ROWS = 5000


@dataclass
class ImportedRow:
    row: int
    response_id: str | None = None
    errors: list[FieldError] = field(default_factory=list)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.split(";") if v.strip()]


def _row_response(
    questionnaire: Questionnaire, row: dict[str, str]
) -> tuple[str | None, RespondentBody, list[AnswerBody]]:
    """One CSV row as the same bodies the API takes; raises ValidationError or CampaignsError."""
    answers: list[AnswerBody] = []
    for q in questionnaire.questions:
        raw = (row.get(q.question_id) or "").strip()
        if not raw or q.kind.value == "contact_details":
            continue
        if q.kind.value == "scale":
            if not (raw.isascii() and raw.isdecimal() and len(raw) <= 4):
                raise InvalidQuestionnaire(
                    f"{q.question_id} takes a value from 1 to 5", field=q.question_id
                )
            answers.append(AnswerBody(question_id=q.question_id, scale=int(raw)))
        elif q.kind.value == "free_text":
            answers.append(AnswerBody(question_id=q.question_id, text=raw))
        else:
            answers.append(AnswerBody(question_id=q.question_id, choices=_split(raw)))
    respondent = RespondentBody.model_validate(
        {
            key: (row.get(key) or "").strip() or None
            for key in ("name", "organisation", "position", "email", "phone")
        }
        | {"consented_channels": _split(row.get("consented_channels") or "")}
    )
    return (row.get("participant_id") or "").strip() or None, respondent, answers


async def import_responses(runtime: Runtime, event_id: str, text: str) -> list[ImportedRow]:
    """Each row is submitted on its own, exactly as one keyed in through the API: one
    QuestionnaireSubmitted (and NeedsIdentified) per created row; a bad row is reported with
    its errors and nothing of it is stored."""
    await EventRepository(runtime).get(event_id)
    questionnaire = await get_questionnaire(runtime, event_id)
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    known = set(RESPONDENT_COLUMNS) | {q.question_id for q in questionnaire.questions}
    unknown = [h for h in header if h not in known]
    if not header or unknown:
        raise InvalidInput(
            [
                FieldError(
                    field="body",
                    message=(
                        f"unknown column {', '.join(unknown)}; " if unknown else "no header row; "
                    )
                    + f"the columns are {', '.join(RESPONDENT_COLUMNS)} and the question ids "
                    + ", ".join(q.question_id for q in questionnaire.questions),
                    type="csv_header",
                )
            ]
        )
    reader.fieldnames = header
    results: list[ImportedRow] = []
    for row in reader:
        number = reader.line_num
        if len(results) >= MAX_IMPORT_ROWS:
            raise InvalidInput(
                [
                    FieldError(
                        field="body",
                        message=f"at most {MAX_IMPORT_ROWS} rows at a time",
                        type="too_long",
                    )
                ]
            )
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue  # a blank line
        result = ImportedRow(row=number)
        results.append(result)
        if None in row:
            result.errors.append(
                FieldError(field="row", message="more values than columns", type="csv_row")
            )
            continue
        answers: list[AnswerBody] = []
        try:
            participant_id, respondent, answers = _row_response(questionnaire, row)
            result.response_id, _, _ = await submit(
                runtime,
                event_id,
                participant_id=participant_id,
                respondent=respondent,
                answers=answers,
                channel=ResponseChannel.PAPER,
            )
        except ValidationError as exc:
            for error in exc.errors():
                column = str(error["loc"][0]) if error["loc"] else "row"
                result.errors.append(
                    FieldError(field=column, message=error["msg"], type=error["type"])
                )
        except (CampaignsError, Refused) as exc:
            for refusal in refusals_of(exc) or (exc,):
                column = getattr(refusal, "field", None) or "row"
                if column.startswith("answers[") and "]" in column:
                    index = int(column[len("answers[") : column.index("]")])
                    column = answers[index].question_id if index < len(answers) else "row"
                result.errors.append(
                    FieldError(field=column, message=str(refusal), type=type(refusal).__name__)
                )
    return results
