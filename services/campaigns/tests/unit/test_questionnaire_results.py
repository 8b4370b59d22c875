"""Tallying an event's questionnaire results per question from what the store counted."""

from __future__ import annotations

from decimal import Decimal

from crm_campaigns.domain.questionnaire_results import (
    OptionCount,
    QuestionResult,
    ResponseCounts,
    answered,
    tally,
)
from crm_campaigns.domain.questionnaires import (
    GivenAnswer,
    Question,
    QuestionKind,
    Questionnaire,
)

QUESTIONNAIRE = Questionnaire(
    event_id="e1",
    title="After the seminar",
    questions=(
        Question("who", "Your details", QuestionKind.CONTACT_DETAILS),
        Question("format", "Format?", QuestionKind.SINGLE_CHOICE, ("Seminar", "Webinar", "Both")),
        Question("topics", "Topics?", QuestionKind.MULTIPLE_CHOICE, ("Pumps", "Valves")),
        Question("interest", "Interested in?", QuestionKind.PRODUCT_INTEREST, ("PUMP-1", "V-2")),
        Question("rating", "How was it?", QuestionKind.SCALE),
        Question("remarks", "Anything else?", QuestionKind.FREE_TEXT),
    ),
)


def by_id(counts: ResponseCounts) -> dict[str, QuestionResult]:
    return {q.question_id: q for q in tally(QUESTIONNAIRE, counts).questions}


def test_every_option_is_listed_in_the_questionnaires_order_with_zeros() -> None:
    results = by_id(
        ResponseCounts(
            answered={"format": 3, "topics": 2},
            choices={("format", "Both"): 1, ("format", "Seminar"): 2, ("topics", "Valves"): 2},
        )
    )
    fmt = results["format"]
    assert fmt.answered == 3
    assert fmt.options == (
        OptionCount("Seminar", 2),
        OptionCount("Webinar", 0),
        OptionCount("Both", 1),
    )
    assert results["interest"].options == (
        OptionCount("PUMP-1", 0),
        OptionCount("V-2", 0),
    )


def test_an_option_chosen_before_the_questionnaire_dropped_it_comes_last_marked() -> None:
    results = by_id(ResponseCounts(answered={"topics": 1}, choices={("topics", "Gears"): 1}))
    assert results["topics"].options[-1] == OptionCount("Gears", 1, current=False)


def test_a_scale_counts_each_value_and_rounds_its_mean_half_up_to_two_decimals() -> None:
    # 1+2+2+2+2+3+2+3 = 17 over 8 answers: 2.125
    counts = ResponseCounts(scales={("rating", 1): 1, ("rating", 2): 5, ("rating", 3): 2})
    rating = by_id(counts)["rating"]
    assert [(c.option, c.count) for c in rating.scale] == [
        ("1", 1),
        ("2", 5),
        ("3", 2),
        ("4", 0),
        ("5", 0),
    ]
    assert rating.answered == 8
    assert rating.mean == Decimal("2.13")


def test_a_scale_nobody_answered_has_no_mean() -> None:
    rating = by_id(ResponseCounts())["rating"]
    assert rating.answered == 0
    assert rating.mean is None


def test_free_text_counts_answers_with_those_whose_text_was_erased() -> None:
    remarks = by_id(ResponseCounts(answered={"remarks": 4}, erased={"remarks": 1}))["remarks"]
    assert (remarks.answered, remarks.erased) == (4, 1)


def test_totals_count_every_response_by_channel_with_those_stored_without_answers() -> None:
    results = tally(
        QUESTIONNAIRE,
        ResponseCounts(by_channel={"electronic": 5, "paper": 2}, without_answers=3),
    )
    assert (results.responses, results.without_answers) == (7, 3)
    assert results.by_channel == {"electronic": 5, "paper": 2}


def test_contact_details_are_not_a_result() -> None:
    ids = [q.question_id for q in tally(QUESTIONNAIRE, ResponseCounts()).questions]
    assert ids == ["format", "topics", "interest", "rating", "remarks"]


def test_an_empty_choice_or_a_blank_text_is_not_an_answer() -> None:
    assert not answered(GivenAnswer("topics", choices=()))
    assert not answered(GivenAnswer("remarks", text="   "))
    assert answered(GivenAnswer("rating", scale=3))
