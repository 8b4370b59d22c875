"""Every phrase the pages use has its Russian; dates and money follow the person's locale."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from crm_console.i18n import RUSSIAN, Formats, translator

PACKAGE = Path(__file__).resolve().parents[2] / "crm_console"
PHRASE = re.compile(r"""\b_\(\s*(["'])(.+?)\1\s*\)""")


def _phrases() -> set[str]:
    found = set()
    for source in [*PACKAGE.rglob("*.html"), *PACKAGE.rglob("*.py")]:
        found |= {m.group(2) for m in PHRASE.finditer(source.read_text(encoding="utf-8"))}
    return found


def test_every_phrase_of_the_pages_has_its_russian() -> None:
    phrases = _phrases()
    assert len(phrases) > 50
    assert sorted(phrases - set(RUSSIAN)) == []


def test_english_is_the_phrase_itself_and_russian_its_translation() -> None:
    assert translator("en")("My work") == "My work"
    assert translator("ru")("My work") == "Мои задачи"
    assert translator("ru")("<no such phrase>") == "<no such phrase>"


@pytest.mark.parametrize(
    ("language", "expected"),
    [("ru", "14\u00a0400,00\u00a0₽"), ("en", "RUB14,400.00")],
)
def test_money_is_written_as_the_locale_writes_it(language: str, expected: str) -> None:
    assert Formats(language).money({"amount_minor": 1_440_000, "currency": "RUB"}) == expected


def test_times_are_shown_in_moscow_and_dates_in_the_locale() -> None:
    at = datetime(2026, 12, 6, 21, 30, tzinfo=UTC)  # 00:30 on the 7th in Moscow
    assert Formats("en").date(at) == "7 Dec 2026"
    assert Formats("ru").date("2026-12-06") == "6 дек. 2026\u202fг."
    assert "00:30" in Formats("ru").datetime(at.isoformat())


def test_what_is_not_a_date_or_money_shows_as_nothing() -> None:
    assert Formats("ru").date("not a date") == ""
    assert Formats("ru").money(None) == ""
