"""A programme and its portrait as the form shows them, and back as campaigns' body."""

from __future__ import annotations

from typing import Any

from crm_console.apis import ApiProblem
from crm_console.web import forms
from crm_console.web.programmes import KNOWN, body_of, typed_of


class _Visit:
    def _(self, text: str) -> str:
        return text


PROGRAMME: dict[str, Any] = {
    "id": "p1",
    "name": "Pumps for utilities",
    "starts_on": "2027-01-01",
    "ends_on": "2027-03-31",
    "budget": {"amount_minor": 150_050, "currency": "RUB"},
    "promoted_item_codes": ["PUMP-1", "PUMP-2"],
    "portrait": {
        "statuses": ["active", "partner"],
        "sizes": ["large"],
        "field_of_activity_codes": ["36.00"],
        "regions": ["Moscow", "Tver"],
        "tags": [],
    },
    "version": 3,
}


def test_a_programme_read_and_sent_back_unchanged_is_the_same_programme() -> None:
    body, errors = body_of(_Visit(), typed_of(PROGRAMME))  # type: ignore[arg-type]
    assert not errors
    assert body == {
        key: PROGRAMME[key]
        for key in ("name", "starts_on", "ends_on", "budget", "promoted_item_codes", "portrait")
    }


def test_a_date_that_is_not_one_is_refused_before_campaigns_is_asked() -> None:
    typed = typed_of(PROGRAMME) | {"starts_on": "31.01.2027", "budget": "lots"}
    _, errors = body_of(_Visit(), typed)  # type: ignore[arg-type]
    assert set(errors.fields) == {"starts_on", "budget"}


def test_a_refusal_naming_a_region_lands_next_to_the_regions() -> None:
    problem = ApiProblem(
        422,
        "Invalid input",
        errors=[{"field": "body.portrait.regions[1]", "message": "too long"}],
    )
    placed = forms.FormErrors().place(problem, KNOWN)
    assert placed.fields == {"portrait-regions": "too long"}
