"""Message templates: Jinja2 in a sandbox, per notification kind and language.

Every kind ships a Russian and an English template (subject, plain text, optional HTML). An
operator may replace one through ``/templates``; a replacement may use only the variables its
kind provides, checked when it is saved, and rendering is strict, so nothing is ever sent with
a blank where a value should be.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import jinja2
from crm_contracts.values import Language, NotificationKind
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from crm_notify.domain import KIND_VARIABLES, InvalidTemplate, UnknownTemplateVariable

K = NotificationKind

_text_env = SandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)
_html_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)
# Globals every template may use without the kind declaring them (Jinja's own tests, filters).
_ALWAYS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})


@dataclass(frozen=True)
class Template:
    subject: str
    text: str
    html: str | None = None

    def parts(self) -> dict[str, str]:
        found = {"subject": self.subject, "text": self.text}
        if self.html is not None:
            found["html"] = self.html
        return found


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def validate(kind: NotificationKind, template: Template) -> None:
    """Refuse a template that does not parse or refers to a variable ``kind`` lacks."""
    allowed = KIND_VARIABLES[kind] | _ALWAYS
    for part, source in template.parts().items():
        env = _html_env if part == "html" else _text_env
        try:
            ast = env.parse(source)
        except jinja2.TemplateSyntaxError as exc:
            raise InvalidTemplate(part, f"line {exc.lineno}: {exc.message}") from exc
        unknown = sorted(meta.find_undeclared_variables(ast) - allowed)
        if unknown:
            raise UnknownTemplateVariable(unknown[0], kind, part)


@functools.lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    return (_html_env if html else _text_env).from_string(source)


def render(template: Template, variables: dict[str, Any]) -> Rendered:
    subject = " ".join(_compiled(template.subject, False).render(variables).split())
    text = _compiled(template.text, False).render(variables)
    if template.html is not None:
        html = _compiled(template.html, True).render(variables)
    else:
        html = _html_from_text(text)
    return Rendered(subject=subject, text=text, html=html)


def _html_from_text(text: str) -> str:
    paragraphs = [p for p in text.strip().split("\n\n") if p.strip()]
    body = Markup("").join(
        Markup("<p>{}</p>\n").format(Markup("<br>\n").join(escape(line) for line in p.split("\n")))
        for p in paragraphs
    )
    return f'<!doctype html>\n<html><body style="font-family:sans-serif">\n{body}</body></html>\n'


_INVITATION_HTML = {
    Language.EN: """<!doctype html>
<html><body style="font-family:sans-serif">
<p>Dear {{ recipient_name }},</p>
<p>We are pleased to invite you to <strong>{{ event_title }}</strong> ({{ event_kind }}).</p>
{% if event_topic %}<p>Topic: {{ event_topic }}</p>{% endif %}
<p>When: {{ starts_at }} – {{ ends_at }} ({{ timezone }})<br>Where: {{ place }}</p>
<p><a href="{{ answer_url }}">Accept or decline the invitation</a></p>
{% if check_in_code %}<p>Your check-in code: <code>{{ check_in_code }}</code></p>{% endif %}
<p>The event is attached as a calendar entry.</p>
</body></html>
""",
    Language.RU: """<!doctype html>
<html><body style="font-family:sans-serif">
<p>Уважаемый(ая) {{ recipient_name }}!</p>
<p>Приглашаем вас на мероприятие <strong>«{{ event_title }}»</strong> ({{ event_kind }}).</p>
{% if event_topic %}<p>Тема: {{ event_topic }}</p>{% endif %}
<p>Когда: {{ starts_at }} – {{ ends_at }} ({{ timezone }})<br>Где: {{ place }}</p>
<p><a href="{{ answer_url }}">Принять или отклонить приглашение</a></p>
{% if check_in_code %}<p>Ваш код регистрации: <code>{{ check_in_code }}</code></p>{% endif %}
<p>Мероприятие приложено как событие календаря.</p>
</body></html>
""",
}

SHIPPED: dict[tuple[NotificationKind, Language], Template] = {
    (K.INVITATION, Language.EN): Template(
        subject="Invitation: {{ event_title }}",
        text="Dear {{ recipient_name }},\n\n"
        "We are pleased to invite you to {{ event_title }} ({{ event_kind }}).\n"
        "{% if event_topic %}Topic: {{ event_topic }}\n{% endif %}\n"
        "When: {{ starts_at }} – {{ ends_at }} ({{ timezone }})\nWhere: {{ place }}\n\n"
        "Accept or decline: {{ answer_url }}\n"
        "{% if check_in_code %}Your check-in code: {{ check_in_code }}\n{% endif %}",
        html=_INVITATION_HTML[Language.EN],
    ),
    (K.INVITATION, Language.RU): Template(
        subject="Приглашение: {{ event_title }}",
        text="Уважаемый(ая) {{ recipient_name }}!\n\n"
        "Приглашаем вас на мероприятие «{{ event_title }}» ({{ event_kind }}).\n"
        "{% if event_topic %}Тема: {{ event_topic }}\n{% endif %}\n"
        "Когда: {{ starts_at }} – {{ ends_at }} ({{ timezone }})\nГде: {{ place }}\n\n"
        "Принять или отклонить приглашение: {{ answer_url }}\n"
        "{% if check_in_code %}Ваш код регистрации: {{ check_in_code }}\n{% endif %}",
        html=_INVITATION_HTML[Language.RU],
    ),
    (K.STAFF_NOTICE, Language.EN): Template(
        subject="{{ subject }}", text="{{ recipient_name }},\n\n{{ body }}\n"
    ),
    (K.STAFF_NOTICE, Language.RU): Template(
        subject="{{ subject }}", text="{{ recipient_name }},\n\n{{ body }}\n"
    ),
    (K.AD_HOC, Language.EN): Template(subject="{{ subject }}", text="{{ body }}\n"),
    (K.AD_HOC, Language.RU): Template(subject="{{ subject }}", text="{{ body }}\n"),
    (K.TASK_ASSIGNED, Language.EN): Template(
        subject="New task: {{ task_title }}",
        text='{{ recipient_name }},\n\nYou have been given the task "{{ task_title }}" '
        "({{ category }}) for the event {{ event_title }}.\nDue on {{ due_on }}.\n",
    ),
    (K.TASK_ASSIGNED, Language.RU): Template(
        subject="Новая задача: {{ task_title }}",
        text="{{ recipient_name }},\n\nВам поручена задача «{{ task_title }}» ({{ category }}) "
        "по мероприятию «{{ event_title }}».\nСрок: {{ due_on }}.\n",
    ),
    (K.TASK_CANCELLED, Language.EN): Template(
        subject="Task cancelled: {{ task_title }}",
        text='{{ recipient_name }},\n\nThe task "{{ task_title }}" for the event '
        "{{ event_title }} was cancelled.{% if reason %} Reason: {{ reason }}.{% endif %}\n",
    ),
    (K.TASK_CANCELLED, Language.RU): Template(
        subject="Задача отменена: {{ task_title }}",
        text="{{ recipient_name }},\n\nЗадача «{{ task_title }}» по мероприятию "
        "«{{ event_title }}» отменена.{% if reason %} Причина: {{ reason }}.{% endif %}\n",
    ),
    (K.PLAN_STEP_ASSIGNED, Language.EN): Template(
        subject="Plan step for you: {{ step_title }}",
        text='{{ recipient_name }},\n\nYou are the assignee of the step "{{ step_title }}" '
        "of the proposal {{ proposal_title }}{% if client_name %} to {{ client_name }}"
        "{% endif %}.\n{% if due_on %}Due on {{ due_on }}.\n{% endif %}"
        "{% if approval %}The step needs your approval.\n{% endif %}",
    ),
    (K.PLAN_STEP_ASSIGNED, Language.RU): Template(
        subject="Шаг плана: {{ step_title }}",
        text="{{ recipient_name }},\n\nВам назначен шаг «{{ step_title }}» предложения "
        "«{{ proposal_title }}»{% if client_name %} для клиента {{ client_name }}{% endif %}.\n"
        "{% if due_on %}Срок: {{ due_on }}.\n{% endif %}"
        "{% if approval %}Шаг требует вашего согласования.\n{% endif %}",
    ),
    (K.CURATOR_ASSIGNED, Language.EN): Template(
        subject="You now curate {{ client_name }}",
        text="{{ recipient_name }},\n\nYou have been made the curator of the client "
        "{{ client_name }}.\n",
    ),
    (K.CURATOR_ASSIGNED, Language.RU): Template(
        subject="Вы куратор клиента {{ client_name }}",
        text="{{ recipient_name }},\n\nВы назначены куратором клиента «{{ client_name }}».\n",
    ),
    (K.EVENT_RESCHEDULED, Language.EN): Template(
        subject="Rescheduled: {{ event_title }}",
        text="{{ recipient_name }},\n\n{{ event_title }} has moved from {{ previous_starts_at }} "
        "to {{ starts_at }} – {{ ends_at }} ({{ timezone }}).\nWhere: {{ place }}\n"
        "{% if reason %}Reason: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_RESCHEDULED, Language.RU): Template(
        subject="Перенос: {{ event_title }}",
        text="{{ recipient_name }},\n\nМероприятие «{{ event_title }}» перенесено с "
        "{{ previous_starts_at }} на {{ starts_at }} – {{ ends_at }} ({{ timezone }}).\n"
        "Где: {{ place }}\n{% if reason %}Причина: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_CANCELLED, Language.EN): Template(
        subject="Cancelled: {{ event_title }}",
        text="{{ recipient_name }},\n\n{{ event_title }}, planned for {{ starts_at }}, is "
        "cancelled.\n{% if reason %}Reason: {{ reason }}\n{% endif %}",
    ),
    (K.EVENT_CANCELLED, Language.RU): Template(
        subject="Отмена: {{ event_title }}",
        text="{{ recipient_name }},\n\nМероприятие «{{ event_title }}», назначенное на "
        "{{ starts_at }}, отменено.\n{% if reason %}Причина: {{ reason }}\n{% endif %}",
    ),
}
