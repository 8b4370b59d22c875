"""Template validation and rendering, without I/O."""

from __future__ import annotations

import time

import pytest
from crm_contracts.values import Language, NotificationKind
from crm_notify.domain import (
    KIND_VARIABLES,
    InvalidTemplate,
    TemplateTooCostly,
    UnknownTemplateVariable,
)
from crm_notify.templates import MAX_RENDER_S, SHIPPED, RenderFailed, Template, render, validate


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


# -- bounded rendering --------------------------------------------------------------------------
NESTED_LOOPS = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
BOMBS = {
    "nested loops": NESTED_LOOPS,
    "nested loops over a string": "{% set s = 'x' * 1000 %}{% for a in s %}{% for b in s %}"
    "{% endfor %}{% endfor %}",
    "output bomb": "{% for a in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
    "repetition": "{{ 'x' * 1000000000 }}",
    "padding": "{{ body|center(1000000000) }}",
    "padding method": "{{ body.ljust(1000000000) }}",
    "format width": "{{ '{:>1000000000}'.format(body) }}",
    "printf width": "{{ '%1000000000s' % body }}",
    "replace": "{% set s = 'x' * 100000 %}{{ s|replace('x', body * 10) }}",
    "join": "{% set s = 'x' * 100000 %}{{ s.join(s) }}",
    "exponent": "{{ 10 ** 1000000 }}",
    "exponential macro": "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}"
    "{% endmacro %}{{ f(60) }}",
    "endless recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "overflow": "{{ range(10 ** 30) }}",
}


@pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
def test_a_template_past_the_bounds_fails_fast_as_a_render_failure(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(RenderFailed):
        render(Template(subject="{{ subject }}", text=source), {"subject": "S", "body": "b"})
    assert time.monotonic() - started < MAX_RENDER_S + 0.5


@pytest.mark.parametrize("part", ["subject", "text", "html"])
def test_a_nested_loop_template_is_refused_when_saved(part: str) -> None:
    parts = {"subject": "{{ subject }}", "text": "{{ body }}", "html": "<p>{{ body }}</p>"}
    parts[part] = NESTED_LOOPS
    with pytest.raises(TemplateTooCostly) as caught:
        validate(NotificationKind.AD_HOC, Template(**parts))
    assert caught.value.field == f"body.{part}"


def test_an_output_bomb_is_refused_when_saved() -> None:
    bomb = Template(subject="{{ subject }}", text=BOMBS["output bomb"])
    with pytest.raises(TemplateTooCostly, match="output"):
        validate(NotificationKind.AD_HOC, bomb)


def test_ordinary_loops_formats_and_joins_still_render() -> None:
    template = Template(
        subject="{{ subject|upper }}",
        text="{% for w in body.split() %}{{ loop.index }}. {{ w }}\n{% endfor %}"
        "{{ '{:>4}'.format(7) }}|{{ '%03d' % 5 }}|{{ ['a', 'b']|join(', ') }}"
        "|{{ body|replace(' ', '_') }}|{{ 2 ** 10 }}",
    )
    validate(NotificationKind.AD_HOC, template)
    rendered = render(template, {"subject": "hi", "body": "one two"})
    assert rendered.subject == "HI"
    assert rendered.text == "1. one\n2. two\n   7|005|a, b|one_two|1024"


def test_a_message_is_rendered_within_one_budget_for_all_its_parts() -> None:
    # Each part alone stays under the step budget; together they do not.
    loop = "{% for a in range(30000) %}{% endfor %}"
    with pytest.raises(RenderFailed, match="loop iterations"):
        render(Template(subject="s", text=loop, html=loop), {})
