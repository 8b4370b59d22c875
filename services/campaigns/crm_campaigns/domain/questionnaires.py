"""Questionnaire definitions and how a response is checked against one."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from crm_kit.refusals import Refusals

from crm_campaigns.domain.errors import InvalidQuestionnaire


class QuestionKind(enum.StrEnum):
    SINGLE_CHOICE = "single_choice"
    MULTIPLE_CHOICE = "multiple_choice"
    SCALE = "scale"
    FREE_TEXT = "free_text"
    PRODUCT_INTEREST = "product_interest"
    CONTACT_DETAILS = "contact_details"


@dataclass(frozen=True)
class Question:
    question_id: str
    text: str
    kind: QuestionKind
    options: tuple[str, ...] = ()
    """The choices; for a product-interest question, catalogue codes."""
    required: bool = False

    def __post_init__(self) -> None:
        needs_options = self.kind in (
            QuestionKind.SINGLE_CHOICE,
            QuestionKind.MULTIPLE_CHOICE,
            QuestionKind.PRODUCT_INTEREST,
        )
        if needs_options and not self.options:
            raise InvalidQuestionnaire(
                f"question {self.question_id} needs options", field="questions.options"
            )


@dataclass(frozen=True)
class Questionnaire:
    event_id: str
    title: str
    questions: tuple[Question, ...]
    version: int = 0

    def __post_init__(self) -> None:
        ids = [q.question_id for q in self.questions]
        if len(ids) != len(set(ids)):
            raise InvalidQuestionnaire("question ids must be unique", field="questions")

    def question(self, question_id: str) -> Question:
        for q in self.questions:
            if q.question_id == question_id:
                return q
        raise InvalidQuestionnaire(f"no question {question_id}", field="answers.question_id")


@dataclass(frozen=True)
class GivenAnswer:
    question_id: str
    choices: tuple[str, ...] = ()
    scale: int | None = None
    text: str | None = None


@dataclass(frozen=True)
class CheckedResponse:
    answers: tuple[tuple[Question, GivenAnswer], ...]
    product_interest_codes: tuple[str, ...] = field(default=())


def check_response(
    questionnaire: Questionnaire, answers: tuple[GivenAnswer, ...]
) -> CheckedResponse:
    """Every answer fits its question; every required question is answered. Every answer
    that does not is refused, not only the first."""
    checked: list[tuple[Question, GivenAnswer]] = []
    codes: list[str] = []
    seen: set[str] = set()
    refusals = Refusals(InvalidQuestionnaire)
    for index, given in enumerate(answers):
        with refusals.check():
            checked.append(_checked_answer(questionnaire, given, f"answers[{index}]", seen, codes))
    for q in questionnaire.questions:
        if q.required and q.question_id not in seen:
            with refusals.check():
                raise InvalidQuestionnaire(
                    f"question {q.question_id} must be answered", field="answers"
                )
    refusals.raise_if_any()
    return CheckedResponse(tuple(checked), tuple(codes))


def _checked_answer(
    questionnaire: Questionnaire, given: GivenAnswer, where: str, seen: set[str], codes: list[str]
) -> tuple[Question, GivenAnswer]:
    q = next((x for x in questionnaire.questions if x.question_id == given.question_id), None)
    if q is None:
        raise InvalidQuestionnaire(f"no question {given.question_id}", field=f"{where}.question_id")
    if q.question_id in seen:
        raise InvalidQuestionnaire(f"question {q.question_id} answered twice", field=where)
    seen.add(q.question_id)
    if q.kind in (
        QuestionKind.SINGLE_CHOICE,
        QuestionKind.MULTIPLE_CHOICE,
        QuestionKind.PRODUCT_INTEREST,
    ):
        unknown = [c for c in given.choices if c not in q.options]
        if unknown:
            raise InvalidQuestionnaire(
                f"{', '.join(unknown)} is not an option of {q.question_id}",
                field=f"{where}.choices",
            )
        if q.kind == QuestionKind.SINGLE_CHOICE and len(given.choices) > 1:
            raise InvalidQuestionnaire(
                f"{q.question_id} takes one choice", field=f"{where}.choices"
            )
        if q.kind == QuestionKind.PRODUCT_INTEREST:
            codes.extend(c for c in given.choices if c not in codes)
    if q.kind == QuestionKind.SCALE and (given.scale is None or not 1 <= given.scale <= 5):
        raise InvalidQuestionnaire(
            f"{q.question_id} takes a value from 1 to 5", field=f"{where}.scale"
        )
    return q, given


def anonymous_answers_bound(capacity: int | None, *, per_seat: int, most: int) -> int:
    """How many answers an event's anonymous questionnaire link takes: ``per_seat`` per seat
    of the event's capacity (walk-ins and colleagues of the invited answer too), never more
    than ``most``, which is also the bound of an event without a capacity."""
    if capacity is not None and capacity > 0:
        return min(most, capacity * per_seat)
    return most
