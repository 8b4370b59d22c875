"""Independent checks of one request are all run, and all their refusals are kept."""

import pytest
from crm_kit.refusals import Refusals, Refused, refusals_of


class BadValue(ValueError):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Clash(Exception):
    pass


def _prefix(error: Exception) -> None:
    error.field = f"body.{error.field}"  # type: ignore[attr-defined]


def test_nothing_refused_raises_nothing() -> None:
    refusals = Refusals(BadValue)
    with refusals.check():
        pass

    refusals.raise_if_any()
    assert not refusals


def test_one_refusal_is_raised_as_itself() -> None:
    refusals = Refusals(BadValue)
    with refusals.check():
        raise BadValue("blank", "name")
    with refusals.check():
        pass

    with pytest.raises(BadValue, match="blank"):
        refusals.raise_if_any()


def test_several_refusals_are_raised_together_in_the_order_found() -> None:
    refusals = Refusals(BadValue)
    for field in ("email", "phone"):
        with refusals.check(_prefix):
            raise BadValue(f"bad {field}", field)

    with pytest.raises(Refused) as raised:
        refusals.raise_if_any()

    assert [(str(e), e.field) for e in raised.value.errors] == [  # type: ignore[attr-defined]
        ("bad email", "body.email"),
        ("bad phone", "body.phone"),
    ]
    assert refusals_of(raised.value) == raised.value.errors


def test_a_nested_collectors_refusals_are_flattened_into_the_outer_one() -> None:
    inner = Refusals(BadValue)
    for field in ("a", "b"):
        with inner.check():
            raise BadValue("bad", field)
    outer = Refusals(BadValue)
    with outer.check(_prefix):
        inner.raise_if_any()
    with outer.check(_prefix):
        raise BadValue("bad", "c")

    with pytest.raises(Refused) as raised:
        outer.raise_if_any()

    assert [e.field for e in raised.value.errors] == ["body.a", "body.b", "body.c"]  # type: ignore[attr-defined]


def test_an_exception_of_another_kind_is_not_collected() -> None:
    refusals = Refusals(BadValue)

    with pytest.raises(Clash), refusals.check():
        raise Clash("the state forbids it")
    assert not refusals


def test_an_exception_without_refusals_stands_for_none() -> None:
    assert refusals_of(BadValue("x")) == ()
