"""An event's questionnaire results per question, tallied from what its responses say.

The store counts (``repository.responses``); this turns the counts into the results of each
question of the questionnaire, in its order: every option with its count (zeros included), the
scale's counts per value and mean, how many answered. Pure arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from crm_campaigns.domain.questionnaires import GivenAnswer, QuestionKind, Questionnaire

SCALE_VALUES = (1, 2, 3, 4, 5)
CHOICE_KINDS = (
    QuestionKind.SINGLE_CHOICE,
    QuestionKind.MULTIPLE_CHOICE,
    QuestionKind.PRODUCT_INTEREST,
)


@dataclass(frozen=True)
class ResponseCounts:
    """What the store counted over one event's responses."""

    by_channel: Mapping[str, int] = field(default_factory=dict)
    """Responses per channel (``electronic``, ``paper``)."""
    without_answers: int = 0
    """Responses stored before answers were kept: counted, never guessed."""
    answered: Mapping[str, int] = field(default_factory=dict)
    """Per question id, how many responses answer it."""
    choices: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """Per (question id, option), how many responses chose it."""
    scales: Mapping[tuple[str, int], int] = field(default_factory=dict)
    """Per (question id, value), how many responses gave it."""
    erased: Mapping[str, int] = field(default_factory=dict)
    """Per question id, free texts erased (the respondent's erasure, or retention)."""


@dataclass(frozen=True)
class OptionCount:
    option: str
    count: int
    current: bool = True
    """False for an option chosen before the questionnaire dropped it."""


@dataclass(frozen=True)
class QuestionResult:
    question_id: str
    text: str
    kind: QuestionKind
    answered: int
    options: tuple[OptionCount, ...] = ()
    """Choice and product-interest questions: each option, then any dropped one chosen."""
    scale: tuple[OptionCount, ...] = ()
    """Scale questions: the count of each value 1 to 5."""
    mean: Decimal | None = None
    """Scale questions: the mean of the values given (2 decimals); none when nobody answered."""
    erased: int = 0
    """Free-text questions: answers whose text was erased (counted in ``answered``)."""


@dataclass(frozen=True)
class QuestionnaireResults:
    event_id: str
    title: str
    responses: int
    by_channel: Mapping[str, int]
    without_answers: int
    questions: tuple[QuestionResult, ...]


def answered(given: GivenAnswer) -> bool:
    """Whether an answer says anything (an empty choice list or blank text does not)."""
    return bool(given.choices) or given.scale is not None or bool((given.text or "").strip())


def _mean(counts: tuple[OptionCount, ...]) -> Decimal | None:
    total = sum(c.count for c in counts)
    if not total:
        return None
    exact = Decimal(sum(int(c.option) * c.count for c in counts)) / Decimal(total)
    return exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def tally(questionnaire: Questionnaire, counts: ResponseCounts) -> QuestionnaireResults:
    results: list[QuestionResult] = []
    for q in questionnaire.questions:
        if q.kind == QuestionKind.CONTACT_DETAILS:
            continue  # who answered goes to contacts, not into the results
        base = QuestionResult(q.question_id, q.text, q.kind, answered=0)
        if q.kind in CHOICE_KINDS:
            chosen = {o: n for (qid, o), n in counts.choices.items() if qid == q.question_id}
            options = tuple(OptionCount(o, chosen.get(o, 0)) for o in q.options) + tuple(
                OptionCount(o, n, current=False)
                for o, n in sorted(chosen.items())
                if o not in q.options
            )
            results.append(
                replace(base, answered=counts.answered.get(q.question_id, 0), options=options)
            )
        elif q.kind == QuestionKind.SCALE:
            scale = tuple(
                OptionCount(str(v), counts.scales.get((q.question_id, v), 0)) for v in SCALE_VALUES
            )
            results.append(
                replace(base, answered=sum(c.count for c in scale), scale=scale, mean=_mean(scale))
            )
        else:
            results.append(
                replace(
                    base,
                    answered=counts.answered.get(q.question_id, 0),
                    erased=counts.erased.get(q.question_id, 0),
                )
            )
    return QuestionnaireResults(
        event_id=questionnaire.event_id,
        title=questionnaire.title,
        responses=sum(counts.by_channel.values()),
        by_channel=dict(counts.by_channel),
        without_answers=counts.without_answers,
        questions=tuple(results),
    )
