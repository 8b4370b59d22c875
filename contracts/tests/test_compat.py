"""The compatibility checker, on small schemas built from models defined here."""

from datetime import date
from enum import StrEnum
from typing import Any, Literal

from crm_contracts.compat import check_schema
from pydantic import BaseModel, Field


def _problems(old: type[BaseModel], new: type[BaseModel]) -> list[str]:
    return check_schema(old.model_json_schema(), new.model_json_schema(), "Fact")


class Colour(StrEnum):
    RED = "red"
    GREEN = "green"


class Price(BaseModel):
    amount_minor: int
    currency: str


class Before(BaseModel):
    fact_id: str
    name: str
    colour: Colour
    price: Price
    note: str | None = None
    tags: list[str] = []


def test_an_unchanged_schema_has_no_problems() -> None:
    assert _problems(Before, Before) == []


def test_adding_an_optional_field_is_accepted() -> None:
    class After(Before):
        region: str | None = None
        labels: list[Price] = []

    assert _problems(Before, After) == []


def test_adding_an_enum_value_is_accepted() -> None:
    class WiderColour(StrEnum):
        RED = "red"
        GREEN = "green"
        BLUE = "blue"

    class After(Before):
        colour: WiderColour  # type: ignore[assignment]

    assert _problems(Before, After) == []


def test_changing_descriptions_and_titles_is_accepted() -> None:
    class After(Before):
        """Now documented."""

        name: str = Field(title="Full name", description="As printed.")

    assert _problems(Before, After) == []


def test_removing_a_field_is_reported_as_breaking() -> None:
    class After(BaseModel):
        fact_id: str
        colour: Colour
        price: Price
        note: str | None = None
        tags: list[str] = []

    assert _problems(Before, After) == ["Fact.name: property removed (or renamed)"]


def test_renaming_a_field_is_reported_as_a_removal_and_a_new_required_field() -> None:
    class After(BaseModel):
        fact_id: str
        full_name: str
        colour: Colour
        price: Price
        note: str | None = None
        tags: list[str] = []

    assert _problems(Before, After) == [
        "Fact.name: property removed (or renamed)",
        "Fact.full_name: new required property",
    ]


def test_changing_a_field_type_is_reported_as_breaking() -> None:
    class After(Before):
        name: int  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.name: type changed from string to integer"]


def test_changing_a_type_inside_an_optional_field_is_reported() -> None:
    class After(Before):
        note: int | None = None  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.note: type changed from null|string to integer|null"]


def test_making_a_required_field_nullable_is_reported() -> None:
    class After(Before):
        name: str | None  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.name: type changed from string to null|string"]


def test_changing_a_field_inside_a_nested_model_is_reported() -> None:
    class CentsPrice(BaseModel):
        amount_minor: str
        currency: str

    class After(Before):
        price: CentsPrice  # type: ignore[assignment]

    assert _problems(Before, After) == [
        "Fact.price.amount_minor: type changed from integer to string"
    ]


def test_changing_the_items_of_a_list_is_reported() -> None:
    class After(Before):
        tags: list[int] = []  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.tags[]: type changed from string to integer"]


def test_changing_a_format_is_reported() -> None:
    class After(Before):
        fact_id: date  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.fact_id: format changed from None to 'date'"]


def test_tightening_a_constraint_is_reported() -> None:
    class After(Before):
        name: str = Field(max_length=10)

    assert _problems(Before, After) == ["Fact.name: maxLength changed from None to 10"]


def test_adding_a_required_field_is_reported_as_breaking() -> None:
    class After(Before):
        region: str

    assert _problems(Before, After) == ["Fact.region: new required property"]


def test_making_an_optional_field_required_is_reported_as_breaking() -> None:
    class After(Before):
        note: str | None

    assert _problems(Before, After) == ["Fact.note: optional property became required"]


def test_removing_an_enum_value_is_reported_as_breaking() -> None:
    class NarrowerColour(StrEnum):
        RED = "red"

    class After(Before):
        colour: NarrowerColour  # type: ignore[assignment]

    assert _problems(Before, After) == ["Fact.colour: enum values removed: green"]


def test_removing_a_literal_value_is_reported_as_breaking() -> None:
    class Old(BaseModel):
        kind: Literal["a", "b"]

    class New(BaseModel):
        kind: Literal["a"]

    assert _problems(Old, New) == ["Fact.kind: enum values removed: b"]


def test_recursive_models_are_compared_without_looping() -> None:
    class Node(BaseModel):
        label: str
        children: list["Node"] = []

    class Tree(BaseModel):
        root: Node

    assert _problems(Tree, Tree) == []


def test_a_change_deep_in_shared_definitions_is_reported_at_every_use() -> None:
    old: dict[str, Any] = {
        "$defs": {"Money": {"type": "object", "properties": {"a": {"type": "integer"}}}},
        "type": "object",
        "properties": {
            "price": {"$ref": "#/$defs/Money"},
            "total": {"anyOf": [{"$ref": "#/$defs/Money"}, {"type": "null"}]},
        },
    }
    new: dict[str, Any] = {
        **old,
        "$defs": {"Money": {"type": "object", "properties": {"a": {"type": "number"}}}},
    }

    assert check_schema(old, new, "Fact") == [
        "Fact.price.a: type changed from integer to number",
        "Fact.total.a: type changed from integer to number",
    ]
