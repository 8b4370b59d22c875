"""Questionnaire definitions and responses over HTTP."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from crm_contracts.values import Channel
from crm_kit.fields import Email, Id, LongText, Name, Phone, ShortText
from crm_kit.problems import FieldError
from pydantic import BaseModel, Field, field_validator

from crm_campaigns.domain.questionnaires import QuestionKind
from crm_campaigns.schemas.common import Strict


class QuestionBody(Strict):
    question_id: str = Field(
        min_length=1,
        max_length=100,
        description="Any text without `/`: it is a path segment of the question's texts route.",
    )
    text: str = Field(min_length=1, max_length=1000)
    kind: QuestionKind
    options: list[ShortText] = Field(
        default=[], max_length=100, description="Choices; catalogue codes for interest"
    )
    required: bool = False

    @field_validator("question_id")
    @classmethod
    def _one_path_segment(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("a question id cannot hold '/' (it names the question in a path)")
        return value


class QuestionnaireBody(Strict):
    title: Name
    questions: list[QuestionBody] = Field(min_length=1, max_length=100)


class QuestionOut(BaseModel):
    question_id: str
    text: str
    kind: QuestionKind
    options: list[str]
    required: bool


class QuestionnaireOut(BaseModel):
    event_id: str
    title: str
    questions: list[QuestionOut]
    version: int
    anonymous_link: str
    """The per-event link anyone at the event can answer through (/q/{token})."""


class AnswerBody(Strict):
    question_id: str = Field(min_length=1, max_length=100)
    choices: list[ShortText] = Field(default=[], max_length=100)
    scale: int | None = Field(default=None, ge=0, le=1000)
    text: LongText | None = None


class RespondentBody(Strict):
    name: ShortText | None = None
    organisation: ShortText | None = None
    position: ShortText | None = None
    email: Email | None = None
    phone: Phone | None = None
    consented_channels: list[Channel] = Field(default=[], max_length=5)


class ResponseBody(Strict):
    """A response keyed in from paper (or sent by another application)."""

    participant_id: Id | None = None
    respondent: RespondentBody = RespondentBody()
    answers: list[AnswerBody] = Field(max_length=100)


class ResponseOut(BaseModel):
    id: str
    event_id: str
    participant_id: str | None
    channel: str
    product_interest_codes: list[str]
    submitted_at: datetime


class LinkOut(BaseModel):
    path: str
    url: str | None


class ImportRowOut(BaseModel):
    row: int = Field(description="The CSV line number (the header is line 1).")
    status: Literal["created", "error"]
    response_id: str | None = None
    errors: list[FieldError] = Field(
        default=[], description="What is wrong with the row; `field` names its CSV column."
    )


class ImportOut(BaseModel):
    created: int
    failed: int
    rows: list[ImportRowOut]


class OptionCountOut(BaseModel):
    option: str
    count: int
    current: bool = Field(
        default=True, description="False for an option chosen before the questionnaire dropped it."
    )


class ScaleCountOut(BaseModel):
    value: int
    count: int


class TextOut(BaseModel):
    response_id: str
    text: str
    channel: str
    submitted_at: datetime


class TextPage(BaseModel):
    items: list[TextOut]
    next_cursor: str | None = Field(
        description="For `GET .../questionnaire/results/{question_id}/texts`."
    )


class QuestionResultOut(BaseModel):
    question_id: str
    text: str
    kind: QuestionKind
    answered: int = Field(description="How many responses answer the question.")
    options: list[OptionCountOut] | None = Field(
        default=None, description="Choice and product-interest questions: every option."
    )
    scale: list[ScaleCountOut] | None = Field(
        default=None, description="Scale questions: the count of each value 1 to 5."
    )
    mean: float | None = Field(
        default=None, description="Scale questions: the mean value, 2 decimals."
    )
    erased: int | None = Field(
        default=None,
        description="Free-text questions: answers whose text was erased (counted in answered).",
    )
    texts: TextPage | None = Field(
        default=None, description="Free-text questions: the texts, newest first."
    )


class QuestionnaireResultsOut(BaseModel):
    event_id: str
    title: str
    responses: int = Field(description="Every response, with answers stored or not.")
    by_channel: dict[str, int] = Field(description="Responses per channel: electronic, paper.")
    without_answers: int = Field(
        description="Responses stored before their answers were kept: in the totals, in no "
        "question's counts."
    )
    questions: list[QuestionResultOut]
