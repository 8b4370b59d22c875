"""Template validation and rendering, without I/O."""

from __future__ import annotations

import pytest
from crm_contracts.values import Language, NotificationKind
from crm_notify.domain import KIND_VARIABLES, InvalidTemplate, UnknownTemplateVariable
from crm_notify.templates import SHIPPED, Template, render, validate


def test_every_kind_ships_russian_and_english_templates() -> None:
    assert set(SHIPPED) == {(k, lang) for k in NotificationKind for lang in Language}


@pytest.mark.parametrize(("kind", "language"), sorted(SHIPPED))
def test_every_shipped_template_uses_only_its_kinds_variables(
    kind: NotificationKind, language: Language
) -> None:
    validate(kind, SHIPPED[(kind, language)])


def test_a_template_with_a_variable_the_kind_lacks_is_refused_naming_it() -> None:
    template = Template(subject="Hello {{ recipient_name }}", text="Your bonus: {{ bonus }}")
    with pytest.raises(UnknownTemplateVariable) as caught:
        validate(NotificationKind.CURATOR_ASSIGNED, template)
    assert caught.value.variable == "bonus"
    assert caught.value.field == "body.text"


def test_a_template_that_does_not_parse_is_refused() -> None:
    with pytest.raises(InvalidTemplate, match="html"):
        validate(
            NotificationKind.AD_HOC,
            Template(subject="{{ subject }}", text="{{ body }}", html="{% if body %}"),
        )


def test_an_invitation_renders_in_russian_with_the_answer_link() -> None:
    values = dict.fromkeys(KIND_VARIABLES[NotificationKind.INVITATION])
    values.update(
        recipient_name="Анна Петрова",
        event_title="Выставка",
        event_kind="exhibition",
        place="Экспоцентр",
        starts_at="2026-12-01 10:00",
        ends_at="2026-12-01 18:00",
        timezone="Europe/Moscow",
        answer_url="https://crm.example/i/tok",
    )
    rendered = render(SHIPPED[(NotificationKind.INVITATION, Language.RU)], values)
    assert rendered.subject == "Приглашение: Выставка"
    assert rendered.text.startswith("Уважаемый(ая) Анна Петрова!")
    assert "https://crm.example/i/tok" in rendered.text
    assert '<a href="https://crm.example/i/tok">' in rendered.html


def test_html_escapes_values_and_the_text_part_keeps_them() -> None:
    values = {"recipient_name": "x", "subject": "S", "body": "<b>a & b</b>"}
    rendered = render(SHIPPED[(NotificationKind.AD_HOC, Language.EN)], values)
    assert rendered.text == "<b>a & b</b>\n"
    assert "&lt;b&gt;a &amp; b&lt;/b&gt;" in rendered.html
